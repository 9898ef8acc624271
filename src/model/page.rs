//! The data of a query-response page itself, outside its `conversations`: `totalHits` and
//! `aggregations` (sync query pages), `cursor` and `dataAvailabilityDate` (async job pages).
//!
//! The framer ([`crate::ingest::framing`]) hands over a page's text with the conversations
//! cut out of its array, so this never holds more than the page header and trailer.

use std::marker::PhantomData;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::model::{AggregationResult, Text, Ts};

/// The wrapper data of a sync query page or an async job results page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page<'a> {
    /// `totalHits` (sync query).
    pub total_hits: Option<i32>,
    /// `aggregations` (sync query, when the query asked for them).
    pub aggregations: Option<Vec<AggregationResult<'a>>>,
    /// `cursor` (async job results): pass it on to fetch the next page.
    pub cursor: Option<Text<'a>>,
    /// `dataAvailabilityDate` (async job results).
    pub data_availability_date: Option<Ts>,
    /// Keys the reference model does not list for either wrapper.
    pub unknown_fields: Vec<Text<'a>>,
}

impl Page<'_> {
    /// `(wire name, column name)` of the wrapper properties that carry data.
    pub const PROPERTIES: &'static [(&'static str, &'static str)] = &[
        ("totalHits", "total_hits"),
        ("aggregations", "aggregations"),
        ("cursor", "cursor"),
        ("dataAvailabilityDate", "data_availability_date"),
    ];
}

impl<'de: 'a, 'a> Deserialize<'de> for Page<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PageVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for PageVisitor<'a> {
            type Value = Page<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a conversation details query or job results page")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Page<'a>, M::Error> {
                let mut page = Page::default();
                while let Some(key) = map.next_key::<Text<'a>>()? {
                    match key.as_str() {
                        "totalHits" => page.total_hits = map.next_value()?,
                        "aggregations" => page.aggregations = map.next_value()?,
                        "cursor" => page.cursor = map.next_value()?,
                        "dataAvailabilityDate" => page.data_availability_date = map.next_value()?,
                        "conversations" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            page.unknown_fields.push(key);
                        }
                    }
                }
                Ok(page)
            }
        }
        deserializer.deserialize_map(PageVisitor(PhantomData))
    }
}
