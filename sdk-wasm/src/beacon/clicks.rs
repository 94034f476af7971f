//! `click` events: the widget a click hit (named by [`crate::dom::widget_for`]).

use wasm_bindgen::JsValue;

use super::delivery::record;
use super::state::with;
use crate::dom::widget_for;
use crate::host::{get, obj, set};

pub(super) fn on_click(e: &JsValue) {
    if with(|s| s.cfg.capture_clicks) != Some(true) {
        return;
    }
    let Some(target) = get(e, "target") else {
        return;
    };
    if let Some(w) = widget_for(&target) {
        let props = obj();
        set(&props, "widget", w.name.as_str());
        set(&props, "tag", w.tag.as_str());
        record("click", props, obj());
    }
}
