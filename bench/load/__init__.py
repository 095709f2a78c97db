"""Loket's load generator: N concurrent 1:1 calls through the public contract, media included.

    python -m bench.load --spawn [--calls 10] [--seconds 30] [--steps [10,20,30,40]]
                         [--media-nodes K] [--backend services|embedded] [--kill-a-node]
    python -m bench.load --url URL --widget-key KEY --origin ORIGIN --queue QUEUE_ID \\
                         --adviser-email 'load-{i}@example.test' --adviser-password PW [...]

In the spirit of LiveKit's ``lk load-test``. Each call is a visitor and an adviser talking to
Loket exactly as the widget and the console do: REST (``/api/v1/auth/login``,
``/api/v1/widget/sessions``), socket.io (``session:resume``, ``presence:set``, ``queue:join``,
``call:accept``, ``rtc:offer``, ``call:end``) and WebRTC (``bench.load.calls``). Both parties
are the synthetic peer (``media.synthetic_peer``): VP8 640x480 at 20 fps and Opus, encoded
and cut into RTP packets once at start and looped, each peer writing only the headers and
SRTP-protecting with the keys aiortc negotiated (``media.synthetic_rtp``); received frames
are counted at the RTP level, nothing is decoded. So the clients cost far less than the
server they load.

``--spawn`` starts a deployment of its own (``bench.load.deployment``): PostgreSQL + Redis
schemas of its own (or SQLite + memory with ``--backend embedded``), provisioned with the CLI,
one ``loket serve``, and ``--media-nodes`` media nodes (``loket media``). ``--url`` loads a
running Loket, with advisers already provisioned; its server CPU is not measured.

Each step sets its calls up (advisers first, then one visitor every ``--ramp`` seconds),
waits until all have media, measures ``--seconds`` (``bench.load.run``), and ends them.
``--steps`` runs one step per call count and prints a table. The last line printed is::

    calls=<n> delivered_pct=<frames received/sent> loss_pct=<rtp loss>
    join_to_media_p95_ms=<x> server_core_per_call=<y> client_core_per_call=<z> media_nodes=<k>

(on one line; ``na`` where the tool cannot know). The exit status is 1 when a call failed.

``--kill-a-node`` (with ``--spawn`` and ``--media-nodes 2`` or more) sets ``--calls`` calls up,
SIGKILLs the media node holding most of them, has both parties of each moved call negotiate
afresh when told ``media:renegotiate`` (as the widget and console do), and measures one window
after (``bench.load.failover``). Its last line::

    failover killed=<node> calls_moved=<k>/<n> not_recovered=<m> media_back_p50_s=<x>
    media_back_max_s=<y> goal_s=10 others_told=<calls not on that node told to renegotiate>
"""
