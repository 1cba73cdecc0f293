//! The egui panel: parameters, the model and where it came from, a scope, the latent
//! trajectory (delta_t), the step's CPU cost against its real-time budget, and loading.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::editor::ResizeHint;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, Frame, RepaintNotifier,
};

use vrnn_core::Precision;

use crate::knob::{Choice, Knob};
use crate::loader::{Shared, Task};
use crate::params::SynthParams;
use crate::telemetry::{Meters, TelemetryRx};
use crate::VrnnSynth;

const HISTORY: usize = 600;
/// The smallest the window may be made: the controls wrap and the panel scrolls below it.
const MIN_SIZE: Vec2 = Vec2::new(420.0, 360.0);
/// The width from which the control groups fit two rows.
const WIDE: f32 = 700.0;

pub struct EditorApp {
    params: Arc<SynthParams>,
    shared: Arc<Shared>,
    telemetry: Arc<Mutex<TelemetryRx>>,
    executor: AsyncExecutor<VrnnSynth>,
    gui: Option<GuiContext>,
    scope: VecDeque<f32>,
    latent: VecDeque<f32>,
    path_field: String,
}

pub fn create(
    state: Arc<EguiEditorState>,
    params: Arc<SynthParams>,
    shared: Arc<Shared>,
    telemetry: Arc<Mutex<TelemetryRx>>,
    executor: AsyncExecutor<VrnnSynth>,
) -> Option<EguiEditor<EditorApp>> {
    let path_field = params.model_path.get();
    let app = EditorApp {
        params,
        shared,
        telemetry,
        executor,
        gui: None,
        scope: VecDeque::new(),
        latent: VecDeque::new(),
        path_field,
    };
    let settings = EguiNiceSettings::new()
        .with_tile("VRNN Synth")
        .with_repaint_poll_interval(Duration::from_millis(33))
        .with_resize_hint(
            ResizeHint::RESIZABLE.with_min_logical_size(LogicalSize::new(MIN_SIZE.x, MIN_SIZE.y)),
        );
    create_egui_editor(state, RepaintNotifier::new(), settings, app)
}

fn push(history: &mut VecDeque<f32>, v: f32) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(v);
}

/// A line plot of `values` scaled to fit `height`, newest on the right.
fn plot(ui: &mut egui::Ui, values: &VecDeque<f32>, height: f32, colour: Color32, symmetric: bool) {
    let (response, painter) =
        ui.allocate_painter(Vec2::new(ui.available_width(), height), Sense::hover());
    let rect: Rect = response.rect;
    painter.rect_filled(rect, 4.0, Color32::from_gray(20));
    let max = values.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let n = values.len().max(2);
    let points: Vec<Pos2> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = rect.left() + rect.width() * i as f32 / (n - 1) as f32;
            let y = if symmetric {
                rect.center().y - v / max * rect.height() * 0.45
            } else {
                rect.bottom() - v / max * rect.height() * 0.9
            };
            Pos2::new(x, y)
        })
        .collect();
    painter.add(egui::Shape::line(points, Stroke::new(1.5, colour)));
}

impl nice_plug_egui::NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        _ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        if let Ok(mut t) = self.telemetry.lock() {
            while let Ok(v) = t.scope.pop() {
                push(&mut self.scope, v);
            }
            while let Ok(v) = t.latent.pop() {
                push(&mut self.latent, v);
            }
        }
        let Some(gui) = self.gui.clone() else { return };
        ResizableWindow::new("panel").min_size(MIN_SIZE).show(ui, |ui| {
            // A margin inside the window, so that wrapped text ends inside it too.
            egui::ScrollArea::vertical().show(ui, |ui| {
                egui::Frame::NONE
                    .inner_margin(8.0)
                    .show(ui, |ui| self.panel(ui, &gui.param_setter()))
            });
        });
    }
}

impl EditorApp {
    fn panel(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        ui.heading("VRNN Synth");
        let p = &self.params;
        let knob = |ui: &mut egui::Ui, param: &dyn KnobParam| param.knob(ui, setter);
        type Group<'a> = (&'static str, Box<dyn Fn(&mut egui::Ui) + 'a>);
        let groups: [Group; 5] = [
            (
                "Sound",
                Box::new(|ui| {
                    knob(ui, &p.temperature);
                    knob(ui, &p.noise);
                    knob(ui, &p.formant);
                }),
            ),
            (
                "Voices",
                Box::new(|ui| {
                    knob(ui, &p.seed);
                    knob(ui, &p.voices);
                    knob(ui, &p.width);
                    ui.vertical(|ui| {
                        ui.add(Choice::new(&p.mode, setter));
                        ui.add(Choice::new(&p.latency, setter));
                    });
                }),
            ),
            (
                "Keyboard",
                Box::new(|ui| {
                    knob(ui, &p.velocity);
                    knob(ui, &p.bend_range);
                }),
            ),
            (
                "Input",
                Box::new(|ui| {
                    knob(ui, &p.follow);
                    knob(ui, &p.input_gate);
                    knob(ui, &p.dry_wet);
                }),
            ),
            (
                "Output",
                Box::new(|ui| {
                    knob(ui, &p.gain);
                    ui.add(Choice::new(&p.limiter, setter));
                }),
            ),
        ];
        // Two rows in a wide window, a group per row in a narrow one.
        let rows: &[&[usize]] = if ui.available_width() >= WIDE {
            &[&[0, 1], &[2, 3, 4]]
        } else {
            &[&[0], &[1], &[2], &[3], &[4]]
        };
        for row in rows {
            ui.horizontal(|ui| {
                for &g in *row {
                    let (name, add) = &groups[g];
                    group(ui, name, add);
                }
            });
        }
        ui.separator();
        let selected = self.shared.selected();
        let c = &selected.model.config;
        ui.label(format!(
            "Model: {} — {} ({} domain, {:?}, hidden {}, latent {}), {} parameters as {}{}, {} Hz, frames of {}",
            selected.name,
            c.variant_name(),
            c.domain,
            c.cell,
            c.hidden,
            c.z_size(),
            c.parameter_count(),
            selected.precision(),
            if selected.model.storage == selected.precision() {
                String::new()
            } else {
                format!(" (held as {}: faster on this CPU)", selected.model.storage)
            },
            c.sample_rate,
            c.frame_size
        ));
        let pv = &c.provenance;
        ui.label(format!(
            "Trained on {} — {} steps, {}, trainer {}{}",
            if pv.data.is_empty() { "-".into() } else { pv.data.join(", ") },
            pv.steps,
            pv.date,
            pv.trainer_version,
            pv.validation_nelbo
                .map_or(String::new(), |v| format!(", validation -ELBO {v:.1} nats/frame"))
        ));
        let natural = c.domain.default_noise();
        if (self.params.noise.value() - natural).abs() > 0.05 {
            ui.label(format!(
                "This {} model's natural Noise is {natural:.1} (the knob is at {:.2})",
                c.domain,
                self.params.noise.value()
            ));
        }
        ui.label(match &pv.sound {
            Some(s) => format!(
                "Sound match vs {}: {} (spectrum {:.1} dB apart, voiced {:.2}, clicks {:.2})",
                s.references, s.verdict, s.ltas_db, s.voiced_fraction, s.click_ratio
            ),
            None => "Sound match: not measured (trainer eval --sound)".to_string(),
        });
        ui.horizontal(|ui| {
            if ui.button("Load…").clicked() {
                if let Some(path) =
                    rfd::FileDialog::new().add_filter("VRNN model", &["vrnn"]).pick_file()
                {
                    self.path_field = path.display().to_string();
                    self.executor.execute_background(Task::Load(path));
                }
            }
            ui.add(
                egui::TextEdit::singleline(&mut self.path_field)
                    .desired_width(240.0)
                    .hint_text("path to a .vrnn model"),
            );
            if ui.button("Load path").clicked() && !self.path_field.trim().is_empty() {
                self.executor.execute_background(Task::Load(PathBuf::from(self.path_field.trim())));
            }
            if ui.button("Built-in").clicked() {
                self.path_field.clear();
                self.executor.execute_background(Task::UseBuiltin);
            }
            let current = self.params.precision();
            let mut chosen = current;
            egui::ComboBox::from_label("Weights")
                .selected_text(current.name())
                .show_ui(ui, |ui| {
                    for p in Precision::ALL {
                        ui.selectable_value(&mut chosen, p, p.name());
                    }
                })
                .response
                .on_hover_text(
                    "f16 and bf16 halve the bytes each step reads, int8 quarters them: \
                     faster on large models; int8 also on small ones",
                );
            if chosen != current {
                self.executor.execute_background(Task::SetPrecision(chosen));
            }
        });
        let status = self.shared.status();
        if !status.is_empty() {
            ui.colored_label(Color32::from_rgb(240, 120, 90), status);
        }
        ui.separator();
        let m = &self.shared.meters;
        let (step, budget) = (Meters::load(&m.step_us), Meters::load(&m.budget_us));
        ui.label(format!(
            "CPU per frame: {step:.0} us of a {budget:.0} us frame ({:.1} %), {} frames silenced (non-finite), latency {} samples at {:.0} Hz",
            100.0 * step / budget.max(1.0),
            m.nonfinite.load(Ordering::Relaxed),
            m.latency.load(Ordering::Relaxed),
            Meters::load(&m.sample_rate)
        ));
        ui.label("Output");
        plot(ui, &self.scope, 90.0, Color32::from_rgb(120, 200, 255), false);
        ui.label("Latent trajectory: delta_t = |change of the prior mean| squared, per frame");
        plot(ui, &self.latent, 90.0, Color32::from_rgb(255, 190, 90), false);
    }
}

/// A framed group of controls side by side under its name.
fn group(ui: &mut egui::Ui, name: &str, add: &dyn Fn(&mut egui::Ui)) {
    ui.group(|ui| {
        ui.vertical(|ui| {
            ui.strong(name);
            ui.horizontal(add);
        });
    });
}

/// The parameters a knob can turn (one knob type for floats and integers, through `dyn`).
trait KnobParam {
    fn knob(&self, ui: &mut egui::Ui, setter: &ParamSetter);
}

impl<P: Param> KnobParam for P {
    fn knob(&self, ui: &mut egui::Ui, setter: &ParamSetter) {
        ui.add(Knob::new(self, setter));
    }
}
