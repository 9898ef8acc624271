//! The `model!` macro: one declaration per Genesys model yields everything the pipeline needs
//! to know about it, so the model, the decoder and the Arrow schema cannot drift apart:
//!
//! - the Rust struct, borrowing from the record text, every property `Option`al;
//! - its serde visitor, which keeps the names of keys it does not know instead of failing;
//! - its Arrow fields (snake_case names, exact widths);
//! - `…Scalars`, a builder for its scalar and list-of-scalar properties (flat tables), and
//!   `…Columns`, a builder for the whole model as a `Struct` (nested columns);
//! - its drift audit (unknown keys, unknown enum values, lenient timestamps) by JSON path.
//!
//! Property kinds are written `[Text]`, `[I32]`, `[I64]`, `[F64]`, `[Bool]`, `[Ts]`,
//! `[Attributes]`, `[Enum Vocabulary]`, `[Model Name]` and `[List kind…]`.

/// Maps a property kind to its Rust type, with `$lt` as the record-text lifetime.
macro_rules! kind_ty {
    ($lt:lifetime, [Text]) => { $crate::model::Text<$lt> };
    ($lt:lifetime, [I32]) => { i32 };
    ($lt:lifetime, [I64]) => { i64 };
    ($lt:lifetime, [F64]) => { f64 };
    ($lt:lifetime, [Bool]) => { bool };
    ($lt:lifetime, [Ts]) => { $crate::model::Ts };
    ($lt:lifetime, [Attributes]) => { $crate::model::Attributes<$lt> };
    ($lt:lifetime, [Enum $v:ident]) => { $crate::model::Enum<$lt, $crate::schema::vocab::$v> };
    ($lt:lifetime, [Model $m:ident]) => { $m<$lt> };
    ($lt:lifetime, [List $($rest:tt)+]) => { Vec<kind_ty!($lt, [$($rest)+])> };
}

/// The column builder of a property kind.
macro_rules! kind_builder {
    ($k:tt) => { <kind_ty!('static, $k) as $crate::columnar::Column>::Builder };
}

/// Declares one model; see the module documentation.
macro_rules! model {
    (
        $(#[$meta:meta])*
        $name:ident $wire_model:literal => $scalars:ident, $columns:ident {
            scalars { $( $sf:ident : $sk:tt = $sw:literal ),* $(,)? }
            children { $( $cf:ident : $ck:tt = $cw:literal ),* $(,)? }
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name<'a> {
            $(
                #[doc = concat!("`", $sw, "`")]
                pub $sf: Option<kind_ty!('a, $sk)>,
            )*
            $(
                #[doc = concat!("`", $cw, "`")]
                pub $cf: Option<kind_ty!('a, $ck)>,
            )*
            /// Keys of this object that the reference model does not list (kept in the raw
            /// JSON, reported as drift).
            pub unknown_fields: Vec<$crate::model::Text<'a>>,
        }

        impl $name<'_> {
            /// The reference model's name for this object.
            pub const MODEL: &'static str = $wire_model;
            /// `(wire name, Rust field name)` of every property, scalars first; the column name
            /// is the field name without a raw-identifier `r#`.
            pub const PROPERTIES: &'static [(&'static str, &'static str)] =
                &[$(($sw, stringify!($sf)),)* $(($cw, stringify!($cf)),)*];

            /// Arrow fields of the scalar and list-of-scalar properties.
            pub fn scalar_fields() -> Vec<arrow::datatypes::Field> {
                vec![$(arrow::datatypes::Field::new(
                    stringify!($sf).trim_start_matches("r#"),
                    <kind_ty!('static, $sk) as $crate::columnar::Column>::data_type(),
                    true,
                )),*]
            }

            /// `(wire name, known values)` of every enum-typed property.
            pub fn vocabularies() -> Vec<(&'static str, &'static [&'static str])> {
                let mut out = Vec::new();
                $(if let Some(values) = <kind_ty!('static, $sk) as $crate::columnar::Column>::vocabulary() {
                    out.push(($sw, values));
                })*
                out
            }

            /// Arrow fields of every property, nested models included.
            pub fn fields() -> Vec<arrow::datatypes::Field> {
                #[allow(unused_mut)]
                let mut fields = Self::scalar_fields();
                $(fields.push(arrow::datatypes::Field::new(
                    stringify!($cf).trim_start_matches("r#"),
                    <kind_ty!('static, $ck) as $crate::columnar::Column>::data_type(),
                    true,
                ));)*
                fields
            }
        }

        impl<'de: 'a, 'a> serde::Deserialize<'de> for $name<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ModelVisitor<'a>(std::marker::PhantomData<&'a ()>);
                impl<'de: 'a, 'a> serde::de::Visitor<'de> for ModelVisitor<'a> {
                    type Value = $name<'a>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("an ", $wire_model, " object"))
                    }
                    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::model::Text<'a>>()? {
                            match key.as_str() {
                                $($sw => out.$sf = map.next_value()?,)*
                                $($cw => out.$cf = map.next_value()?,)*
                                _ => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                    out.unknown_fields.push(key);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                deserializer.deserialize_map(ModelVisitor(std::marker::PhantomData))
            }
        }

        impl $crate::model::audit::Audit for $name<'_> {
            fn audit(&self, path: &mut $crate::model::audit::JsonPath, report: &mut $crate::model::audit::DriftReport) {
                for key in &self.unknown_fields {
                    report.unknown_field(path, key.as_str());
                }
                $(if let Some(v) = &self.$sf {
                    path.push($sw);
                    v.audit(path, report);
                    path.pop();
                })*
                $(if let Some(v) = &self.$cf {
                    path.push($cw);
                    v.audit(path, report);
                    path.pop();
                })*
            }
        }

        #[doc = concat!("Builds the scalar and list-of-scalar columns of [`", stringify!($name), "`] rows.")]
        #[derive(Default)]
        pub struct $scalars {
            $($sf: kind_builder!($sk),)*
        }

        impl $scalars {
            /// Appends one row; `None` appends nulls to every column.
            #[allow(unused_variables)]
            pub fn append(&mut self, row: Option<&$name<'_>>) {
                $($crate::columnar::ColumnBuilder::append(&mut self.$sf, row.and_then(|r| r.$sf.as_ref()));)*
            }

            /// Finishes every column, in [`fields`](Self::fields) order.
            pub fn finish(&mut self) -> Vec<arrow::array::ArrayRef> {
                vec![$($crate::columnar::FinishColumn::finish(&mut self.$sf)),*]
            }

            /// The fields of the columns this builds.
            pub fn fields() -> Vec<arrow::datatypes::Field> {
                $name::scalar_fields()
            }
        }

        #[doc = concat!("Builds [`", stringify!($name), "`] values as an Arrow `Struct` (or as loose columns).")]
        pub struct $columns {
            scalars: $scalars,
            $($cf: kind_builder!($ck),)*
            validity: arrow::array::BooleanBufferBuilder,
        }

        impl Default for $columns {
            fn default() -> Self {
                Self {
                    scalars: $scalars::default(),
                    $($cf: Default::default(),)*
                    validity: arrow::array::BooleanBufferBuilder::new(0),
                }
            }
        }

        impl $columns {
            /// Finishes every property as a loose column, in [`fields`](Self::fields) order.
            pub fn finish_columns(&mut self) -> Vec<arrow::array::ArrayRef> {
                self.validity = arrow::array::BooleanBufferBuilder::new(0);
                #[allow(unused_mut)]
                let mut columns = self.scalars.finish();
                $(columns.push($crate::columnar::FinishColumn::finish(&mut self.$cf));)*
                columns
            }

            /// The fields of the columns this builds.
            pub fn fields() -> Vec<arrow::datatypes::Field> {
                $name::fields()
            }
        }

        impl<'a> $crate::columnar::ColumnBuilder<$name<'a>> for $columns {
            #[allow(unused_variables)]
            fn append(&mut self, value: Option<&$name<'a>>) {
                self.scalars.append(value);
                $($crate::columnar::ColumnBuilder::append(&mut self.$cf, value.and_then(|r| r.$cf.as_ref()));)*
                self.validity.append(value.is_some());
            }
        }

        impl $crate::columnar::FinishColumn for $columns {
            fn finish(&mut self) -> arrow::array::ArrayRef {
                let nulls = arrow::buffer::NullBuffer::from(self.validity.finish());
                let nulls = (nulls.null_count() > 0).then_some(nulls);
                let columns = self.finish_columns();
                // Every model has at least one property, so the struct's length is its columns'.
                std::sync::Arc::new(arrow::array::StructArray::new(
                    arrow::datatypes::Fields::from($name::fields()),
                    columns,
                    nulls,
                ))
            }
        }

        impl<'a> $crate::columnar::Column for $name<'a> {
            type Builder = $columns;
            fn data_type() -> arrow::datatypes::DataType {
                arrow::datatypes::DataType::Struct($name::fields().into())
            }
        }
    };
}
