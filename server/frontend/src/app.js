// Entry of every page: the DSFR behaviours (header menus, modals, tabs…) and a few of ours.
import "@gouvfr/dsfr/dist/dsfr.module.js";

// Forms asking for confirmation before a destructive action (data-confirm="question").
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Filters that apply as soon as they change (select boxes marked data-autosubmit).
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.dataset.autosubmit !== undefined && field.form) {
    field.form.requestSubmit();
  }
});
