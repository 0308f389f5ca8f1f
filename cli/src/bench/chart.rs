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
    let (x0, x1) = (low * 0.8, high * 1.25);
    let root = SVGBackend::new(path, (1180, 240 + 22 * cells.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    // The legend gets a column of its own, so it never hides a line.
    let (plot, legend) = root.split_horizontally(1000);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "mmsg bench: packets/s per sender (rows: workload size/dests/batch)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(140)
        // The first cell at the top.
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(ticks(x0, x1)),
            rows - 0.5..-0.5,
        )
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .y_labels(cells.len())
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
        .x_label_formatter(&|x| match *x {
            x if x >= 1e6 => format!("{}M", x / 1e6),
            x => format!("{:.0}k", x / 1e3),
        })
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
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| fail(&e))?;
        let y = 70 + 24 * s as i32;
        legend
            .draw(&PathElement::new([(8, y), (34, y)], color.stroke_width(3)))
            .map_err(|e| fail(&e))?;
        legend
            .draw(&Text::new(*name, (42, y - 8), ("sans-serif", 15)))
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

/// Tick marks for a log axis from `low` to `high`: 1, 2 and 5 times each power of ten, so
/// that a range inside one decade still reads.
fn ticks(low: f64, high: f64) -> Vec<f64> {
    let first = 10f64.powi(low.log10().floor() as i32);
    (0..12)
        .map(|decade| first * 10f64.powi(decade))
        .flat_map(|power| [power, 2.0 * power, 5.0 * power])
        .filter(|t| (low..=high).contains(t))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_mark_1_2_5_steps_inside_the_range() {
        assert_eq!(
            super::ticks(250_000.0, 4_500_000.0),
            [500_000.0, 1_000_000.0, 2_000_000.0]
        );
        assert_eq!(super::ticks(1.5, 12.0), [2.0, 5.0, 10.0]);
    }
}
