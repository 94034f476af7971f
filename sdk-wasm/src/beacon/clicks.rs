//! `click` events: the widget a click hit (named by [`crate::dom::widget_for`]).

use wasm_bindgen::JsValue;

use super::delivery::record;
use super::state::with;
use crate::dom::set_widget;
use crate::host::{get, obj};

pub(super) fn on_click(e: &JsValue) {
    if with(|s| s.cfg.capture_clicks) != Some(true) {
        return;
    }
    let Some(target) = get(e, "target") else {
        return;
    };
    let props = obj();
    if set_widget(&target, &props, "widget", "tag") {
        record("click", props, obj());
    }
}
