//! What a click or a change means: widget names and choices with defaults.
//! Reads the DOM only; never what a user typed.

use js_sys::{Array, Object};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, HtmlFormElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

use crate::js::set;
use crate::naming::{clip, text_name};

/// Attribute naming a widget.
pub const WIDGET_ATTR: &str = "data-usage-widget";
/// Attribute suppressing capture on an element and its descendants.
pub const IGNORE_ATTR: &str = "data-usage-ignore";

/// A clicked widget: its name and the tag of the element that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    /// `data-usage-widget`, else the id, the aria-label, or the trimmed text.
    pub name: String,
    /// Lower-case tag name.
    pub tag: String,
}

fn is_interactive(el: &Element) -> bool {
    match el.tag_name().to_ascii_lowercase().as_str() {
        "button" | "a" | "summary" => true,
        "input" => matches!(
            el.get_attribute("type")
                .map(|t| t.to_ascii_lowercase())
                .as_deref(),
            Some("button" | "submit" | "reset" | "image")
        ),
        _ => el
            .get_attribute("role")
            .is_some_and(|r| r.eq_ignore_ascii_case("button")),
    }
}

/// Whether `el` or an ancestor carries `data-usage-ignore`.
pub fn is_ignored(el: &Element) -> bool {
    el.closest(&format_attr(IGNORE_ATTR))
        .ok()
        .flatten()
        .is_some()
}

fn format_attr(a: &str) -> String {
    let mut s = String::with_capacity(a.len() + 2);
    s.push('[');
    s.push_str(a);
    s.push(']');
    s
}

/// The widget a click on `target` hit, or `None` (not a widget, or ignored).
pub fn widget_for(target: &Element) -> Option<Widget> {
    if is_ignored(target) {
        return None;
    }
    // The nearest named widget wins, even around an unnamed button.
    if let Some(named) = target.closest(&format_attr(WIDGET_ATTR)).ok().flatten() {
        let name = named.get_attribute(WIDGET_ATTR).unwrap_or_default();
        let name = name.trim();
        if !name.is_empty() {
            return Some(Widget {
                name: clip(name).to_owned(),
                tag: named.tag_name().to_ascii_lowercase(),
            });
        }
    }
    let mut cur = Some(target.clone());
    while let Some(el) = cur {
        if is_interactive(&el) {
            let tag = el.tag_name().to_ascii_lowercase();
            let name = Some(el.id())
                .filter(|id| !id.trim().is_empty())
                .map(|id| clip(id.trim()).to_owned())
                .or_else(|| el.get_attribute("aria-label").and_then(|l| text_name(&l)))
                .or_else(|| {
                    if tag == "input" {
                        el.get_attribute("value").and_then(|v| text_name(&v))
                    } else {
                        el.text_content().and_then(|t| text_name(&t))
                    }
                })?;
            return Some(Widget { name, tag });
        }
        cur = el.parent_element();
    }
    None
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

/// A chosen value.
#[derive(Debug, Clone, PartialEq)]
pub enum ChoiceValue {
    /// One value.
    One(String),
    /// Several values (multi-select, checkbox group).
    Many(Vec<String>),
    /// A lone checkbox.
    Flag(bool),
}

impl ChoiceValue {
    fn to_js(&self) -> JsValue {
        match self {
            Self::One(s) => JsValue::from_str(clip(s)),
            Self::Flag(b) => JsValue::from_bool(*b),
            Self::Many(v) => v
                .iter()
                .take(crate::naming::MAX_ITEMS)
                .map(|s| JsValue::from_str(clip(s)))
                .collect::<Array>()
                .into(),
        }
    }
}

impl Choice {
    /// The `choice` event's props.
    pub fn to_props(&self, trigger: &str) -> Object {
        let o = Object::new();
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

fn control_name(el: &Element) -> Option<String> {
    el.get_attribute("name")
        .filter(|n| !n.trim().is_empty())
        .or_else(|| Some(el.id()).filter(|i| !i.trim().is_empty()))
        .map(|n| clip(n.trim()).to_owned())
}

fn form_name(form: Option<HtmlFormElement>) -> Option<String> {
    let f = form?;
    Some(f.id())
        .filter(|i| !i.is_empty())
        .or_else(|| Some(f.name()).filter(|n| !n.is_empty()))
}

fn select_choice(s: &HtmlSelectElement) -> Option<Choice> {
    let opts = s.options();
    let mut value = Vec::new();
    let mut default = Vec::new();
    for i in 0..opts.length() {
        let Some(o) = opts
            .item(i)
            .and_then(|o| o.dyn_into::<web_sys::HtmlOptionElement>().ok())
        else {
            continue;
        };
        if o.selected() {
            value.push(o.value());
        }
        if o.default_selected() {
            default.push(o.value());
        }
    }
    if !s.multiple() && default.is_empty() {
        // A single select with no `selected` option defaults to its first option.
        if let Some(first) = opts
            .item(0)
            .and_then(|o| o.dyn_into::<web_sys::HtmlOptionElement>().ok())
        {
            default.push(first.value());
        }
    }
    let is_default = value == default;
    let (value, default) = if s.multiple() {
        (ChoiceValue::Many(value), ChoiceValue::Many(default))
    } else {
        (
            ChoiceValue::One(value.into_iter().next().unwrap_or_default()),
            ChoiceValue::One(default.into_iter().next().unwrap_or_default()),
        )
    };
    Some(Choice {
        control: control_name(s)?,
        value: Some(value),
        default: Some(default),
        is_default,
        form: form_name(s.form()),
        kind: "select",
    })
}

/// Inputs of the same group: same `name` and type, in the same form (or document).
fn group(input: &HtmlInputElement, kind: &str) -> Vec<HtmlInputElement> {
    let name = input.name();
    let mut out = Vec::new();
    if name.is_empty() {
        out.push(input.clone());
        return out;
    }
    let root: Option<Element> = match input.form() {
        Some(f) => Some(f.into()),
        None => input.owner_document().and_then(|d| d.document_element()),
    };
    let Some(root) = root else {
        out.push(input.clone());
        return out;
    };
    let Ok(list) = root.query_selector_all("input") else {
        out.push(input.clone());
        return out;
    };
    for i in 0..list.length() {
        if let Some(el) = list
            .item(i)
            .and_then(|n| n.dyn_into::<HtmlInputElement>().ok())
        {
            if el.name() == name
                && el.type_().eq_ignore_ascii_case(kind)
                && el.form() == input.form()
            {
                out.push(el);
            }
        }
    }
    out
}

fn input_choice(input: &HtmlInputElement) -> Option<Choice> {
    let kind = input.type_().to_ascii_lowercase();
    let control = control_name(input)?;
    let form = form_name(input.form());
    match kind.as_str() {
        "password" | "hidden" | "file" | "button" | "submit" | "reset" | "image" => None,
        "radio" => {
            let members = group(input, "radio");
            let value = members.iter().find(|r| r.checked()).map(|r| r.value());
            let default = members
                .iter()
                .find(|r| r.default_checked())
                .map(|r| r.value());
            Some(Choice {
                control,
                is_default: value == default,
                value: Some(ChoiceValue::One(value.unwrap_or_default())),
                default: Some(ChoiceValue::One(default.unwrap_or_default())),
                form,
                kind: "radio",
            })
        }
        "checkbox" => {
            let members = group(input, "checkbox");
            if members.len() > 1 {
                let value: Vec<String> = members
                    .iter()
                    .filter(|c| c.checked())
                    .map(|c| c.value())
                    .collect();
                let default: Vec<String> = members
                    .iter()
                    .filter(|c| c.default_checked())
                    .map(|c| c.value())
                    .collect();
                Some(Choice {
                    control,
                    is_default: value == default,
                    value: Some(ChoiceValue::Many(value)),
                    default: Some(ChoiceValue::Many(default)),
                    form,
                    kind: "checkbox",
                })
            } else {
                Some(Choice {
                    control,
                    is_default: input.checked() == input.default_checked(),
                    value: Some(ChoiceValue::Flag(input.checked())),
                    default: Some(ChoiceValue::Flag(input.default_checked())),
                    form,
                    kind: "checkbox",
                })
            }
        }
        // Free text (text, email, number, search, date, range, …): only
        // whether it still holds its default; the value is never read out.
        _ => Some(Choice {
            control,
            is_default: input.value() == input.default_value(),
            value: None,
            default: None,
            form,
            kind: "text",
        }),
    }
}

/// The choice a `change` on `target` made, or `None` (not a control, a
/// password, or ignored).
pub fn choice_for(target: &Element) -> Option<Choice> {
    if is_ignored(target) {
        return None;
    }
    if let Some(s) = target.dyn_ref::<HtmlSelectElement>() {
        return select_choice(s);
    }
    if let Some(i) = target.dyn_ref::<HtmlInputElement>() {
        return input_choice(i);
    }
    if let Some(t) = target.dyn_ref::<HtmlTextAreaElement>() {
        return Some(Choice {
            control: control_name(t)?,
            is_default: t.default_value().is_ok_and(|d| d == t.value()),
            value: None,
            default: None,
            form: form_name(t.form()),
            kind: "text",
        });
    }
    None
}

/// One choice per control of a submitted form (a radio or checkbox group
/// counts once), with its final value.
pub fn form_choices(form: &HtmlFormElement) -> Vec<Choice> {
    let mut out: Vec<Choice> = Vec::new();
    if is_ignored(form) {
        return out;
    }
    let elements = form.elements();
    for i in 0..elements.length() {
        let Some(el) = elements.item(i) else { continue };
        if let Some(c) = choice_for(&el) {
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
