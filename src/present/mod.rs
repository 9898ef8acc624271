//! Reports as people read them: names beside ids ([`names`]), numbers as people write them
//! ([`format`]), and one self-contained HTML file with SVG charts ([`html`], [`svg`]). The
//! machine outputs (CSV, JSON, Parquet) keep the exact numbers and gain only the names.

pub mod format;
pub mod html;
pub mod names;
pub mod svg;
pub mod table;
