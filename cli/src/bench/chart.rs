//! The grid as an SVG chart: packets/s of every sender (and every receiver) in every cell,
//! on a log scale, one row per cell so the labels read across, a section of rows with its
//! own legend per side (send, receive).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

/// One part of the chart: `pps[row][series]`.
pub struct Section<'a> {
    pub title: &'a str,
    pub rows: &'a [String],
    pub series: &'a [&'a str],
    pub pps: &'a [Vec<f64>],
}

impl Section<'_> {
    /// Pixels: room for the rows and the caption and axis, and for the legend beside them.
    fn height(&self) -> u32 {
        (240 + 22 * self.rows.len() as u32).max(110 + 24 * self.series.len() as u32)
    }
}

/// Draws the sections one under the other, each with one line per series down its rows.
pub fn write(path: &Path, sections: &[Section]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    if sections.is_empty() {
        return Err(fail(&"nothing was measured"));
    }
    let height = sections.iter().map(Section::height).sum();
    let root = SVGBackend::new(path, (1180, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut rest = root.clone();
    for section in sections {
        let (area, below) = rest.split_vertically(section.height());
        draw(&area, section).map_err(|e| fail(&e))?;
        rest = below;
    }
    root.present().map_err(|e| fail(&e))
}

fn draw(area: &DrawingArea<SVGBackend, Shift>, s: &Section) -> Result<(), String> {
    let all = s.pps.iter().flatten().copied().filter(|p| *p > 0.0);
    let low = all.clone().fold(f64::INFINITY, f64::min);
    let high = all.fold(0.0, f64::max);
    if s.rows.is_empty() || !low.is_finite() {
        return Err(format!("nothing was measured for '{}'", s.title));
    }
    let rows = s.rows.len() as f64;
    let (x0, x1) = (low * 0.8, high * 1.25);
    // The legend gets a column of its own, so it never hides a line.
    let (plot, legend) = area.split_horizontally(1000);
    let mut chart = ChartBuilder::on(&plot)
        .caption(s.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(140)
        // The first row at the top.
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(ticks(x0, x1)),
            rows - 0.5..-0.5,
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .y_labels(s.rows.len())
        .light_line_style(TRANSPARENT)
        .y_label_formatter(&|y| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 {
                s.rows.get(i as usize).cloned().unwrap_or_default()
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
        .map_err(|e| e.to_string())?;
    for (i, name) in s.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s
            .pps
            .iter()
            .enumerate()
            .map(|(r, row)| (row[i].max(low), r as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
        let y = 70 + 24 * i as i32;
        legend
            .draw(&PathElement::new([(8, y), (34, y)], color.stroke_width(3)))
            .map_err(|e| e.to_string())?;
        legend
            .draw(&Text::new(*name, (42, y - 8), ("sans-serif", 15)))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
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
