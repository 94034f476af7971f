//! `choice` events: a control's value against its default on `change`, and
//! once per control when a form is submitted (read by [`crate::dom`]).

use wasm_bindgen::JsValue;

use super::delivery::{record, send_all_by_beacon};
use super::state::with;
use crate::dom::{choice_for, form_choices};
use crate::host::{get, obj};

pub(super) fn on_change(e: &JsValue) {
    if with(|s| s.cfg.capture_choices) != Some(true) {
        return;
    }
    if let Some(c) = get(e, "target").and_then(|t| choice_for(&t)) {
        record("choice", c.to_props("change"), obj());
    }
}

/// Every named control of `form` as it is now, as `choice` events of `trigger`.
fn record_form(form: &JsValue, trigger: &str) {
    if with(|s| s.cfg.capture_choices) != Some(true) {
        return;
    }
    for c in form_choices(form) {
        record("choice", c.to_props(trigger), obj());
    }
}

pub(super) fn on_submit(e: &JsValue) {
    if let Some(form) = get(e, "target") {
        record_form(&form, "submit");
    }
    // The page may navigate away now: hand everything to the browser.
    send_all_by_beacon();
}

/// The end of a page view (its first hide): each form's controls as they
/// are then (`trigger: "hide"`), changed, submitted or never touched, so
/// the defaults report counts the views that kept a default too.
pub(super) fn on_form_end(form: &JsValue) {
    record_form(form, "hide");
}
