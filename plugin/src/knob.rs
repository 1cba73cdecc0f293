//! The panel's controls: a rotary knob for continuous and stepped parameters (drag up or
//! down, Shift for fine steps, the wheel nudges, double-click resets; the name above, the
//! value below) and a switch for choices (click for the next one).

use std::f32::consts::PI;

use egui::{Color32, Pos2, Response, Sense, Shape, Stroke, Ui, Vec2, Widget};
use nice_plug::prelude::{Param, ParamSetter};

/// The knob's travel: 270 degrees, from lower left to lower right.
const SWEEP: f32 = 1.5 * PI;
const SIZE: f32 = 46.0;
const WIDTH: f32 = 78.0;
/// Normalised change per point dragged (Shift: a tenth of it).
const DRAG: f32 = 0.006;
const ACCENT: Color32 = Color32::from_rgb(120, 200, 255);

pub struct Knob<'a, P: Param> {
    param: &'a P,
    setter: &'a ParamSetter<'a>,
}

impl<'a, P: Param> Knob<'a, P> {
    pub fn new(param: &'a P, setter: &'a ParamSetter<'a>) -> Self {
        Knob { param, setter }
    }

    fn set(&self, normalised: f32) {
        self.setter.set_parameter_normalized(self.param, normalised.clamp(0.0, 1.0));
    }
}

/// The point at `fraction` of the sweep on a circle of `radius` around `centre`.
fn on_arc(centre: Pos2, radius: f32, fraction: f32) -> Pos2 {
    let angle = 0.75 * PI + fraction * SWEEP;
    centre + radius * Vec2::new(angle.cos(), angle.sin())
}

fn arc(centre: Pos2, radius: f32, from: f32, to: f32) -> Vec<Pos2> {
    let n = ((to - from) * 48.0).ceil().max(1.0) as usize;
    (0..=n).map(|i| on_arc(centre, radius, from + (to - from) * i as f32 / n as f32)).collect()
}

impl<P: Param> Widget for Knob<'_, P> {
    fn ui(self, ui: &mut Ui) -> Response {
        let layout = egui::Layout::top_down(egui::Align::Center);
        let response = ui
            .allocate_ui_with_layout(Vec2::new(WIDTH, SIZE + 40.0), layout, |ui| {
                ui.set_width(WIDTH);
                ui.label(self.param.name());
                let (rect, response) =
                    ui.allocate_exact_size(Vec2::splat(SIZE), Sense::click_and_drag());
                if response.drag_started() {
                    self.setter.begin_set_parameter(self.param);
                }
                if response.dragged() {
                    let fine = ui.input(|i| i.modifiers.shift);
                    let step = if fine { DRAG / 10.0 } else { DRAG };
                    let dy = response.drag_delta().y;
                    self.set(self.param.unmodulated_normalized_value() - dy * step);
                }
                if response.drag_stopped() {
                    self.setter.end_set_parameter(self.param);
                }
                if response.double_clicked() {
                    self.setter.begin_set_parameter(self.param);
                    self.set(self.param.default_normalized_value());
                    self.setter.end_set_parameter(self.param);
                }
                if response.hovered() {
                    let scroll = ui.input(|i| i.smooth_scroll_delta.y);
                    if scroll != 0.0 {
                        self.setter.begin_set_parameter(self.param);
                        self.set(self.param.unmodulated_normalized_value() + scroll * DRAG / 4.0);
                        self.setter.end_set_parameter(self.param);
                    }
                }
                let painter = ui.painter();
                let (centre, radius) = (rect.center(), SIZE / 2.0 - 3.0);
                let value = self.param.modulated_normalized_value();
                painter.circle_filled(centre, radius, Color32::from_gray(36));
                let track = Stroke::new(4.0, Color32::from_gray(70));
                painter.add(Shape::line(arc(centre, radius, 0.0, 1.0), track));
                let lit =
                    Stroke::new(4.0, if response.hovered() { Color32::WHITE } else { ACCENT });
                painter.add(Shape::line(arc(centre, radius, 0.0, value), lit));
                painter.line_segment(
                    [centre, on_arc(centre, radius - 6.0, value)],
                    Stroke::new(2.0, Color32::WHITE),
                );
                ui.label(self.param.to_string());
                response
            })
            .inner;
        response.on_hover_text("Drag (Shift: fine), scroll, double-click to reset")
    }
}

/// A choice (an enum or a switch): its name and value on a button; a click moves it to the
/// next value, after the last back to the first.
pub struct Choice<'a, P: Param> {
    param: &'a P,
    setter: &'a ParamSetter<'a>,
}

impl<'a, P: Param> Choice<'a, P> {
    pub fn new(param: &'a P, setter: &'a ParamSetter<'a>) -> Self {
        Choice { param, setter }
    }
}

impl<P: Param> Widget for Choice<'_, P> {
    fn ui(self, ui: &mut Ui) -> Response {
        let (p, setter) = (self.param, self.setter);
        let response = ui.add_sized(
            Vec2::new(WIDTH * 1.6, 22.0),
            egui::Button::new(format!("{}: {}", p.name(), p)),
        );
        if response.clicked() {
            let steps = p.step_count().unwrap_or(1).max(1) as f32;
            let next = (p.unmodulated_normalized_value() * steps).round() + 1.0;
            let next = if next > steps { 0.0 } else { next / steps };
            setter.begin_set_parameter(p);
            setter.set_parameter_normalized(p, next);
            setter.end_set_parameter(p);
        }
        response
    }
}
