import { field, h } from "../shared/dom";
import type { User } from "./api";
import type { Context } from "./context";
import { busy, button, load, Message, section } from "./ui";
import { t } from "../staff/texts";

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
      if (locations.length === 0) return h("p", { class: "muted" }, t("locations.noLocationsYetStaff"));
      return h("div", { class: "key-list" }, ...locations.map((location) => locationCard(ctx, location, users, message, refresh)));
    });
  void refresh();
  return section(
    t("nav.locations"),
    t("locations.staffAssignedToA"),
    message.el,
    list,
    createForm(ctx, message, refresh),
  );
}

function rangesOf(text: string): string[] {
  return text.split(/[\s,]+/).map((range) => range.trim()).filter(Boolean);
}

function locationCard(ctx: Context, location: Location, users: Staff[], message: Message, refresh: () => Promise<void>): HTMLElement {
  const ranges = h("textarea", { rows: 3, "aria-label": t("locations.addressRangesOf", { name: location.name }), "data-part": "ranges" });
  ranges.value = location.allow.join("\n");
  const save = button(t("locations.saveRanges"), () => {
    void busy(save, message, async () => {
      await ctx.api.patch<Location>(`/locations/${location.id}`, { allow: rangesOf(ranges.value) });
      message.ok(t("locations.rangesOfSavedIts", { name: location.name }));
      await refresh();
    });
  });
  const here = users.filter((user) => user.location_id === location.id);
  const elsewhere = users.filter((user) => user.location_id !== location.id);
  const pick = h(
    "select",
    { "aria-label": t("locations.staffMemberToAssign", { name: location.name }), "data-part": "assign" },
    h("option", { value: "" }, t("locations.chooseAStaffMember")),
    ...elsewhere.map((user) => h("option", { value: user.id }, `${user.display_name} (${user.email})`)),
  );
  const assign = button(t("locations.assign"), () => {
    if (!pick.value) return;
    void busy(assign, message, async () => {
      await ctx.api.patch<User>(`/users/${pick.value}`, { location_id: location.id });
      message.ok(t("locations.assignedTo", { name: location.name }));
      await refresh();
    });
  });
  const members = here.map((user) => {
    const release = button(t("locations.remove"), () => {
      void busy(release, message, async () => {
        await ctx.api.patch<User>(`/users/${user.id}`, { location_id: null });
        message.ok(t("locations.anywhereAgain", { name: user.display_name }));
        await refresh();
      });
    });
    return h("li", { "data-user": user.email }, `${user.display_name} (${user.email}) `, release);
  });
  const remove = button(t("locations.deleteLocation"), () => {
    if (!confirm(t("locations.delete", { name: location.name }))) return;
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
    h("div", { class: "field" }, h("p", { class: "label" }, t("locations.addressRangesOnePer")), ranges),
    h("div", { class: "actions" }, save),
    h("div", { class: "field" }, h("p", { class: "label" }, t("locations.staffAtThisLocation")), members.length ? h("ul", {}, ...members) : h("p", { class: "muted" }, t("locations.nobodyYet"))),
    h("div", { class: "actions" }, pick, assign, remove),
  );
}

function createForm(ctx: Context, message: Message, refresh: () => Promise<void>): HTMLElement {
  const name = h("input", { name: "name", type: "text", required: true, maxlength: "200" });
  const ranges = h("textarea", { name: "allow", rows: 2, placeholder: "192.0.2.0/24" });
  const save = h("button", { type: "submit", class: "btn primary" }, t("locations.createLocation"));
  const form = h(
    "form",
    { class: "editor", "aria-label": t("locations.newLocation") },
    h("h3", {}, t("locations.newLocation")),
    field(t("queues.name"), name, t("locations.theSiteLikeShowroom")),
    field(t("locations.addressRanges"), ranges, t("locations.theSiteSPublic")),
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, message, async () => {
      await ctx.api.post<Location>("/locations", { name: name.value, allow: rangesOf(ranges.value) });
      message.ok(t("locations.locationCreated", { value: name.value }));
      form.reset();
      await refresh();
    });
  });
  return form;
}
