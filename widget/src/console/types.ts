/** REST shapes the adviser console reads (its socket events are in shared/wire.ts). */

/** ``GET /api/v1/calls`` (an adviser gets their own calls). */
export interface CallRecord {
  id: string;
  queue_id: string;
  adviser_id: string | null;
  reference: string;
  language: string | null;
  status: string;
  end_reason: string | null;
  created_at: string;
  accepted_at: string | null;
  ended_at: string | null;
  waited_seconds: number | null;
}

export interface QueueRecord {
  id: string;
  name: string;
  languages: string[];
}
