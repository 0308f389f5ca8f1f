//! The grid as an SVG chart: packets/s of every sender in every cell, on a log scale, one
//! row per cell (labelled `workload size/dests/batch`) so the labels read across.

use std::path::Path;

use plotters::prelude::*;

/// Draws one line per sender down the grid's cells. `pps[cell][sender]`.
pub fn write(
    path: &Path,
    cells: &[String],
    senders: &[&str],
    pps: &[Vec<f64>],
) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    let all = pps.iter().flatten().copied().filter(|p| *p > 0.0);
    let low = all.clone().fold(f64::INFINITY, f64::min);
    let high = all.fold(0.0, f64::max);
    if cells.is_empty() || !low.is_finite() {
        return Err(fail(&"nothing was measured"));
    }
    let rows = cells.len() as f64;
    let root = SVGBackend::new(path, (1000, 240 + 22 * cells.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "mmsg bench: packets/s per sender (rows: workload size/dests/batch)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(140)
        // The first cell at the top.
        .build_cartesian_2d((low * 0.8..high * 1.25).log_scale(), rows - 0.5..-0.5)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .y_labels(cells.len())
        .x_labels(8)
        .light_line_style(TRANSPARENT)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 {
                cells.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_style(("sans-serif", 13))
        .x_desc("packets/s (log scale)")
        .x_label_formatter(&|x| format!("{:.0}k", x / 1000.0))
        .draw()
        .map_err(|e| fail(&e))?;
    for (s, name) in senders.iter().enumerate() {
        let color = Palette99::pick(s).to_rgba();
        let points: Vec<(f64, f64)> = pps
            .iter()
            .enumerate()
            .map(|(c, row)| (row[s].max(low), c as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3)));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}
