//! `runs-on` labels to images: the platform table, like act's `-P`.
//!
//! Every `ubuntu-*` label (and `linux`, `self-hosted`) maps to the `host`
//! image by default: nestci's sandbox over the host's own filesystem,
//! which holds the tools a developer machine has. `--platform LABEL=IMAGE`
//! (repeatable) overrides or adds entries; `macos-*` and `windows-*`
//! cannot run in Linux containers and must be mapped explicitly.

/// The image for a job that asks for `labels` (any of which may match).
pub fn image_for(labels: &[String], table: &[(String, String)]) -> Result<String, String> {
    for label in labels {
        if let Some((_, image)) = table.iter().rev().find(|(l, _)| l == label) {
            return Ok(image.clone());
        }
    }
    for label in labels {
        let l = label.to_ascii_lowercase();
        if l.starts_with("ubuntu") || l == "linux" || l == "self-hosted" || l == "x64" {
            return Ok("host".into());
        }
    }
    Err(format!(
        "no image for `runs-on: {}`: nestci runs Linux containers",
        labels.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_wins_then_ubuntu_is_host() {
        let table = vec![("ubuntu-22.04".to_string(), "ubuntu:22.04".to_string())];
        assert_eq!(
            image_for(&["ubuntu-22.04".into()], &table),
            Ok("ubuntu:22.04".into())
        );
        assert_eq!(
            image_for(&["ubuntu-latest".into()], &table),
            Ok("host".into())
        );
        assert!(image_for(&["macos-14".into()], &table).is_err());
    }
}
