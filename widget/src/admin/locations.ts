import { field, h } from "../shared/dom";
import type { User } from "./api";
import type { Context } from "./context";
import { busy, button, load, Message, section } from "./ui";

/** A staff member as ``GET /api/v1/users`` lists them, with their location. */
type Staff = User & { location_id?: string | null };

/** ``GET /api/v1/locations``. */
interface Location {
  id: string;
  name: string;
  allow: string[];
  staff: number;
}

/**
 * Locations: the sites staff work from and the address ranges (CIDR) of each. Staff assigned to
 * a location can log in, use the API and take calls only from its ranges; an empty list allows
 * every address. Changing ranges or assignments closes the affected sockets at once.
 */
export function locationsSection(ctx: Context): HTMLElement {
  const message = new Message();
  const list = h("div", { class: "locations" });
  const refresh = (): Promise<void> =>
    load(list, message, async () => {
      const [locations, users] = await Promise.all([ctx.api.get<Location[]>("/locations"), ctx.api.get<Staff[]>("/users")]);
      if (locations.length === 0) return h("p", { class: "muted" }, "No locations yet: staff may work from any address.");
      return h("div", { class: "key-list" }, ...locations.map((location) => locationCard(ctx, location, users, message, refresh)));
    });
  void refresh();
  return section(
    "Locations",
    "Staff assigned to a location may log in and take calls only from its networks. Ask your IT department for the public address ranges of each site.",
    message.el,
    list,
    createForm(ctx, message, refresh),
  );
}

function rangesOf(text: string): string[] {
  return text.split(/[\s,]+/).map((range) => range.trim()).filter(Boolean);
}

function locationCard(ctx: Context, location: Location, users: Staff[], message: Message, refresh: () => Promise<void>): HTMLElement {
  const ranges = h("textarea", { rows: 3, "aria-label": `Address ranges of ${location.name}`, "data-part": "ranges" });
  ranges.value = location.allow.join("\n");
  const save = button("Save ranges", () => {
    void busy(save, message, async () => {
      await ctx.api.patch<Location>(`/locations/${location.id}`, { allow: rangesOf(ranges.value) });
      message.ok(`Ranges of ${location.name} saved; its staff reconnect through them.`);
      await refresh();
    });
  });
  const here = users.filter((user) => user.location_id === location.id);
  const elsewhere = users.filter((user) => user.location_id !== location.id);
  const pick = h(
    "select",
    { "aria-label": `Staff member to assign to ${location.name}`, "data-part": "assign" },
    h("option", { value: "" }, "Choose a staff member…"),
    ...elsewhere.map((user) => h("option", { value: user.id }, `${user.display_name} (${user.email})`)),
  );
  const assign = button("Assign", () => {
    if (!pick.value) return;
    void busy(assign, message, async () => {
      await ctx.api.patch<User>(`/users/${pick.value}`, { location_id: location.id });
      message.ok(`Assigned to ${location.name}.`);
      await refresh();
    });
  });
  const members = here.map((user) => {
    const release = button("Remove", () => {
      void busy(release, message, async () => {
        await ctx.api.patch<User>(`/users/${user.id}`, { location_id: null });
        message.ok(`${user.display_name} may work from anywhere again.`);
        await refresh();
      });
    });
    return h("li", { "data-user": user.email }, `${user.display_name} (${user.email}) `, release);
  });
  const remove = button("Delete location", () => {
    if (!confirm(`Delete ${location.name}?`)) return;
    void busy(remove, message, async () => {
      await ctx.api.delete(`/locations/${location.id}`);
      message.ok(`${location.name} deleted.`);
      await refresh();
    });
  });
  return h(
    "article",
    { class: "key", "data-location": location.name },
    h("div", { class: "key-head" }, h("strong", {}, location.name), h("span", { class: "muted" }, `${location.staff} staff`)),
    h("div", { class: "field" }, h("p", { class: "label" }, "Address ranges (one per line, like 192.0.2.0/24; none: any address)"), ranges),
    h("div", { class: "actions" }, save),
    h("div", { class: "field" }, h("p", { class: "label" }, "Staff at this location"), members.length ? h("ul", {}, ...members) : h("p", { class: "muted" }, "Nobody yet.")),
    h("div", { class: "actions" }, pick, assign, remove),
  );
}

function createForm(ctx: Context, message: Message, refresh: () => Promise<void>): HTMLElement {
  const name = h("input", { name: "name", type: "text", required: true, maxlength: "200" });
  const ranges = h("textarea", { name: "allow", rows: 2, placeholder: "192.0.2.0/24" });
  const save = h("button", { type: "submit", class: "btn primary" }, "Create location");
  const form = h(
    "form",
    { class: "editor", "aria-label": "New location" },
    h("h3", {}, "New location"),
    field("Name", name, "The site, like Showroom Utrecht."),
    field("Address ranges", ranges, "The site's public networks in CIDR form, one per line."),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      await ctx.api.post<Location>("/locations", { name: name.value, allow: rangesOf(ranges.value) });
      message.ok(`Location ${name.value} created.`);
      form.reset();
      await refresh();
    });
  });
  return form;
}
