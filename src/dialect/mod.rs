//! Pipeline dialects: detect the format of a file and parse it into the
//! [`model`](crate::model).
