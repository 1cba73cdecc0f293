//! The training curves as a PNG beside the model.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

/// The first system font found, for the axis labels (registered once per process).
/// Without one the chart has no text.
fn register_font() -> bool {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REGISTERED.get_or_init(find_and_register_font)
}

fn find_and_register_font() -> bool {
    const CANDIDATES: &[&str] = &[
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/System/Library/Fonts/Supplemental/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];
    CANDIDATES.iter().any(|p| {
        std::fs::read(p).is_ok_and(|bytes| {
            plotters::style::register_font(
                "sans-serif",
                FontStyle::Normal,
                Box::leak(bytes.into_boxed_slice()),
            )
            .is_ok()
        })
    })
}

fn bounds(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points.iter().filter(|(_, y)| y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    (x0, x1.max(x0 + 1e-9), y0 - pad, y1 + pad)
}

/// Panels stacked on one x axis, one named series each.
pub fn stacked(
    path: &Path,
    x_label: &str,
    panels: &[(&str, Vec<(f64, f64)>)],
    size: (u32, u32),
) -> Result<()> {
    let has_text = register_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (x0, x1) = panels.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, s)| {
        let (l, h, _, _) = bounds(s);
        (a.min(l), b.max(h))
    });
    let areas = root.split_evenly((panels.len().max(1), 1));
    let colours = [BLUE, RED, BLACK];
    for (i, ((name, series), area)) in panels.iter().zip(areas.iter()).enumerate() {
        let (_, _, y0, y1) = bounds(series);
        let mut builder = ChartBuilder::on(area);
        builder.margin(8);
        if has_text {
            builder.caption(*name, ("sans-serif", 16)).x_label_area_size(30).y_label_area_size(60);
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| anyhow!("{e}"))?;
        if has_text {
            chart.configure_mesh().x_desc(x_label).draw().map_err(|e| anyhow!("{e}"))?;
        }
        let colour = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(
                series.iter().copied().filter(|(_, y)| y.is_finite()),
                colour.stroke_width(1),
            ))
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

/// A line chart of several named series of (x, y) points.
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    size: (u32, u32),
) -> Result<()> {
    let has_text = register_font();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    let (x0, x1, y0, y1) = bounds(&all);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if has_text {
        builder.caption(title, ("sans-serif", 22)).x_label_area_size(40).y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| anyhow!("{e}"))?;
    if has_text {
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, s)) in series.iter().enumerate() {
        let colour = colours[i % colours.len()];
        let drawn = chart
            .draw_series(LineSeries::new(
                s.iter().copied().filter(|(_, y)| y.is_finite()),
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?;
        if has_text {
            drawn
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
    }
    if has_text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

/// Spectrograms side by side: one panel per named grid of dB values (`[frame][bin]`, bins
/// up to `nyquist_hz`), each over `seconds`, coloured from `floor_db` to 0 dB.
pub fn spectrograms(
    path: &Path,
    panels: &[(&str, Vec<Vec<f64>>, f64)],
    nyquist_hz: f64,
    floor_db: f64,
    size: (u32, u32),
) -> Result<()> {
    use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
    let has_text = register_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for ((name, grid, seconds), area) in panels.iter().zip(areas.iter()) {
        let mut builder = ChartBuilder::on(area);
        builder.margin(8);
        if has_text {
            builder.caption(*name, ("sans-serif", 16)).x_label_area_size(30).y_label_area_size(45);
        }
        let khz = nyquist_hz / 1000.0;
        let mut chart =
            builder.build_cartesian_2d(0.0..*seconds, 0.0..khz).map_err(|e| anyhow!("{e}"))?;
        if has_text {
            chart
                .configure_mesh()
                .x_desc("s")
                .y_desc("kHz")
                .disable_mesh()
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
        }
        let (frames, bins) = (grid.len().max(1), grid.first().map_or(1, Vec::len).max(1));
        let (dt, df) = (seconds / frames as f64, khz / bins as f64);
        let cells = grid.iter().enumerate().flat_map(|(t, column)| {
            column.iter().enumerate().map(move |(b, db)| {
                let h = ((db - floor_db) / -floor_db).clamp(0.0, 1.0) as f32;
                let (x, y) = (t as f64 * dt, b as f64 * df);
                Rectangle::new([(x, y), (x + dt, y + df)], ViridisRGB.get_color(h).filled())
            })
        });
        chart.draw_series(cells).map_err(|e| anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(())
}
