//! What a click or a change means: widget names and choices with defaults.
//! Reads the DOM only; never what a user typed.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use wasm_bindgen::JsValue;

use crate::host::{self, at, call_str, get, get_bool, get_str, len, obj, set};
use crate::naming::{clip, text_name};

/// Attribute naming a widget.
const WIDGET_ATTR: &str = "data-usage-widget";

/// A clicked widget: its name and the tag of the element that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    /// `data-usage-widget`, else the id, the aria-label, or the trimmed text.
    pub name: String,
    /// Lower-case tag name.
    pub tag: String,
}

/// An element's attribute, if present.
fn attr(el: &JsValue, name: &str) -> Option<String> {
    call_str(el, "getAttribute", name).as_string()
}

/// An element's attribute, trimmed and clipped, unless blank.
fn attr_trimmed(el: &JsValue, name: &str) -> Option<String> {
    host::trimmed(&call_str(el, "getAttribute", name)).map(|s| clip(&s).to_owned())
}

/// The lower-case tag name (`localName`; `""` for a non-element).
fn tag(el: &JsValue) -> String {
    get_str(el, "localName").unwrap_or_default()
}

/// `el.closest(selector)`; `None` for a non-element or no match.
fn closest(el: &JsValue, selector: &str) -> Option<JsValue> {
    let found = call_str(el, "closest", selector);
    (!found.is_undefined() && !found.is_null()).then_some(found)
}

/// What counts as a widget without `data-usage-widget`: buttons, links,
/// `[role=button]`, button-like inputs, `summary` (ASCII case-insensitive,
/// as HTML compares these attribute values).
const INTERACTIVE: &str = "button,a,summary,[role=button i],input[type=button i],\
input[type=submit i],input[type=reset i],input[type=image i]";

/// Whether `el` or an ancestor carries `data-usage-ignore` (which suppresses
/// capture on an element and its descendants).
fn is_ignored(el: &JsValue) -> bool {
    closest(el, "[data-usage-ignore]").is_some()
}

/// The widget a click on `target` hit, or `None` (not a widget, or ignored).
pub fn widget_for(target: &JsValue) -> Option<Widget> {
    if is_ignored(target) {
        return None;
    }
    // The nearest named widget wins, even around an unnamed button.
    if let Some(named) = closest(target, "[data-usage-widget]") {
        if let Some(name) = attr_trimmed(&named, WIDGET_ATTR) {
            return Some(Widget {
                name,
                tag: tag(&named),
            });
        }
    }
    let el = closest(target, INTERACTIVE)?;
    let tag = tag(&el);
    let name = attr_trimmed(&el, "id")
        .or_else(|| attr(&el, "aria-label").and_then(|l| text_name(&l)))
        .or_else(|| {
            if tag == "input" {
                attr(&el, "value").and_then(|v| text_name(&v))
            } else {
                get_str(&el, "textContent").and_then(|t| text_name(&t))
            }
        })?;
    Some(Widget { name, tag })
}

/// Names the widget `target` is in, as props: its name under `name_key`,
/// its tag under `tag_key`; `false` when it is no widget. One function for
/// the click capture and the INP target, so the beacon holds one copy of
/// the naming.
pub(crate) fn set_widget(target: &JsValue, props: &JsValue, name_key: &str, tag_key: &str) -> bool {
    let Some(w) = widget_for(target) else {
        return false;
    };
    set(props, name_key, w.name.as_str());
    set(props, tag_key, w.tag.as_str());
    true
}

/// A control's choice, as `choice` event props.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The control's name, else its id.
    pub control: String,
    /// The chosen value(s); `None` for free text (never sent).
    pub value: Option<ChoiceValue>,
    /// The DOM default, same shape as the value.
    pub default: Option<ChoiceValue>,
    /// Whether the value is the default.
    pub is_default: bool,
    /// The form's id or name.
    pub form: Option<String>,
    /// `select`, `radio`, `checkbox`, `text`.
    pub kind: &'static str,
}

/// A chosen value: the option or input `value`s, kept as JS strings (they
/// are only compared and sent, never read in Rust).
#[derive(Debug, Clone, PartialEq)]
pub enum ChoiceValue {
    /// One value.
    One(JsValue),
    /// Several values (multi-select, checkbox group).
    Many(Vec<JsValue>),
    /// A lone checkbox.
    Flag(bool),
}

/// A value string as sent: clipped to the protocol's limit.
fn clipped(v: &JsValue) -> JsValue {
    match v.as_string() {
        Some(s) if s.len() > usagelens_protocol::limits::MAX_STRING_BYTES => {
            JsValue::from_str(clip(&s))
        }
        _ => v.clone(),
    }
}

impl ChoiceValue {
    fn to_js(&self) -> JsValue {
        match self {
            Self::One(v) => clipped(v),
            Self::Flag(b) => JsValue::from_bool(*b),
            Self::Many(v) => {
                let a = host::arr();
                for s in v.iter().take(crate::naming::MAX_ITEMS) {
                    host::push(&a, &clipped(s));
                }
                a
            }
        }
    }
}

impl Choice {
    /// The `choice` event's props.
    pub fn to_props(&self, trigger: &str) -> JsValue {
        let o = obj();
        set(&o, "control", self.control.as_str());
        set(&o, "control_type", self.kind);
        if let Some(v) = &self.value {
            set(&o, "value", v.to_js());
        }
        if let Some(d) = &self.default {
            set(&o, "default", d.to_js());
        }
        set(&o, "is_default", self.is_default);
        if let Some(f) = &self.form {
            set(&o, "form", f.as_str());
        }
        set(&o, "trigger", trigger);
        o
    }
}

fn control_name(el: &JsValue) -> Option<String> {
    attr_trimmed(el, "name").or_else(|| attr_trimmed(el, "id"))
}

/// The control's form (`null` outside one).
fn form_of(el: &JsValue) -> JsValue {
    get(el, "form").unwrap_or(JsValue::NULL)
}

/// The form's id, else its name: attributes, since `form.id` and
/// `form.name` are shadowed by controls of that name.
fn form_name(form: &JsValue) -> Option<String> {
    if form.is_null() {
        return None;
    }
    attr_trimmed(form, "id").or_else(|| attr_trimmed(form, "name"))
}

fn select_choice(s: &JsValue) -> Option<Choice> {
    let opts = get(s, "options")?;
    let mut value = Vec::new();
    let mut default = Vec::new();
    let option_value = |o: &JsValue| get(o, "value").unwrap_or_else(|| JsValue::from_str(""));
    for i in 0..len(&opts) {
        let o = at(&opts, i);
        if get_bool(&o, "selected") {
            value.push(option_value(&o));
        }
        if get_bool(&o, "defaultSelected") {
            default.push(option_value(&o));
        }
    }
    let multiple = get_bool(s, "multiple");
    if !multiple && default.is_empty() && len(&opts) > 0 {
        // A single select with no `selected` option defaults to its first option.
        default.push(option_value(&at(&opts, 0)));
    }
    let is_default = value == default;
    let (value, default) = if multiple {
        (ChoiceValue::Many(value), ChoiceValue::Many(default))
    } else {
        (first(value), first(default))
    };
    Some(Choice {
        control: control_name(s)?,
        value: Some(value),
        default: Some(default),
        is_default,
        form: form_name(&form_of(s)),
        kind: "select",
    })
}

fn input_type(el: &JsValue) -> String {
    get_str(el, "type").unwrap_or_default().to_ascii_lowercase()
}

/// Inputs of the same group: same `name` and type, in the same form (or document).
fn group(input: &JsValue, kind: &str) -> Vec<JsValue> {
    let name = get_str(input, "name").unwrap_or_default();
    let form = form_of(input);
    let root = if form.is_null() {
        get(input, "ownerDocument").and_then(|d| get(&d, "documentElement"))
    } else {
        Some(form.clone())
    };
    let list = match root {
        Some(root) if !name.is_empty() => call_str(&root, "querySelectorAll", "input"),
        _ => return vec![input.clone()],
    };
    let mut out = Vec::new();
    for i in 0..len(&list) {
        let el = at(&list, i);
        if get_str(&el, "name").as_deref() == Some(name.as_str())
            && input_type(&el) == kind
            && form_of(&el) == form
        {
            out.push(el);
        }
    }
    if out.is_empty() {
        out.push(input.clone());
    }
    out
}

/// The values of the checked (or default-checked) members of a group.
fn checked_values(members: &[JsValue], key: &str) -> Vec<JsValue> {
    members
        .iter()
        .filter(|m| get_bool(m, key))
        .map(|m| get(m, "value").unwrap_or_else(|| JsValue::from_str("")))
        .collect()
}

/// The first value (`""` for none) as a single value.
fn first(values: Vec<JsValue>) -> ChoiceValue {
    ChoiceValue::One(
        values
            .into_iter()
            .next()
            .unwrap_or_else(|| JsValue::from_str("")),
    )
}

fn input_choice(input: &JsValue) -> Option<Choice> {
    let kind = input_type(input);
    if matches!(
        kind.as_str(),
        "password" | "hidden" | "file" | "button" | "submit" | "reset" | "image"
    ) {
        return None;
    }
    let control = control_name(input)?;
    let form = form_name(&form_of(input));
    let choice = |kind, is_default, value, default| {
        Some(Choice {
            control,
            is_default,
            value,
            default,
            form,
            kind,
        })
    };
    match kind.as_str() {
        "radio" => {
            let members = group(input, "radio");
            let value = checked_values(&members, "checked");
            let default = checked_values(&members, "defaultChecked");
            choice(
                "radio",
                value == default,
                Some(first(value)),
                Some(first(default)),
            )
        }
        "checkbox" => {
            let members = group(input, "checkbox");
            if members.len() > 1 {
                let value = checked_values(&members, "checked");
                let default = checked_values(&members, "defaultChecked");
                choice(
                    "checkbox",
                    value == default,
                    Some(ChoiceValue::Many(value)),
                    Some(ChoiceValue::Many(default)),
                )
            } else {
                let (checked, default) = (
                    get_bool(input, "checked"),
                    get_bool(input, "defaultChecked"),
                );
                choice(
                    "checkbox",
                    checked == default,
                    Some(ChoiceValue::Flag(checked)),
                    Some(ChoiceValue::Flag(default)),
                )
            }
        }
        // Free text (text, email, number, search, date, range, …): only
        // whether it still holds its default; the value is never sent.
        _ => choice("text", text_is_default(input), None, None),
    }
}

/// Whether a text field still holds its default (compared in place, in JS
/// strings: the text never enters the beacon).
fn text_is_default(el: &JsValue) -> bool {
    let (Some(v), Some(d)) = (get(el, "value"), get(el, "defaultValue")) else {
        return false;
    };
    v == d
}

/// The choice a `change` on `target` made, or `None` (not a control, a
/// password, or ignored).
pub fn choice_for(target: &JsValue) -> Option<Choice> {
    if is_ignored(target) {
        return None;
    }
    match tag(target).as_str() {
        "select" => select_choice(target),
        "input" => input_choice(target),
        "textarea" => Some(Choice {
            control: control_name(target)?,
            is_default: text_is_default(target),
            value: None,
            default: None,
            form: form_name(&form_of(target)),
            kind: "text",
        }),
        _ => None,
    }
}

/// One choice per control of a submitted form (a radio or checkbox group
/// counts once), with its final value.
pub fn form_choices(form: &JsValue) -> Vec<Choice> {
    let mut out: Vec<Choice> = Vec::new();
    if is_ignored(form) {
        return out;
    }
    let Some(elements) = get(form, "elements") else {
        return out;
    };
    for i in 0..len(&elements) {
        if let Some(c) = choice_for(&at(&elements, i)) {
            if !out
                .iter()
                .any(|o| o.control == c.control && o.kind == c.kind)
            {
                out.push(c);
            }
        }
    }
    out
}
