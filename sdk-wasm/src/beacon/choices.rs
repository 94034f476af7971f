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

pub(super) fn on_submit(e: &JsValue) {
    if with(|s| s.cfg.capture_choices) != Some(true) {
        return;
    }
    let Some(form) = get(e, "target") else {
        return;
    };
    for c in form_choices(&form) {
        record("choice", c.to_props("submit"), obj());
    }
    // The page may navigate away now: hand everything to the browser.
    send_all_by_beacon();
}
