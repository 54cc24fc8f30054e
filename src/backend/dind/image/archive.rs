//! `docker save` archives: the image a Docker daemon exports with
//! `docker save` or `GET /images/{name}/get`.
//!
//! Such a tar holds `manifest.json` (a list with one entry per image:
//! `Config`, `RepoTags`, `Layers`), the image config JSON the manifest
//! names, and the layers, each an uncompressed tar, listed bottom first
//! (`<id>/layer.tar` in the classic layout, `blobs/sha256/<hex>` in the
//! OCI layout newer daemons write). The import flattens the layers, in
//! order and with their whiteouts ([`super::layer`]), into one rootfs
//! directory, and keeps from the config what a job needs
//! ([`ImageConfig`]).
//!
//! Members are found by name with one pass over the archive each: the
//! archive is read a few times, never loaded into memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::ImageConfig;
use super::layer;

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Manifest {
    config: String,
    #[serde(default)]
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// The part of the image config JSON we read.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    exposed_ports: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// Whether `tar` is a `docker save` archive (it has a `manifest.json`).
pub fn is_docker_archive(tar: &Path) -> Result<bool, String> {
    Ok(member(tar, "manifest.json", |_| Ok(()))?.is_some())
}

/// Unpack the image of the archive `tar` into the empty directory
/// `rootfs` (canonical path) and return its config.
pub fn import(tar: &Path, rootfs: &Path) -> Result<ImageConfig, String> {
    let manifest = member(tar, "manifest.json", |r| read_json::<Vec<Manifest>>(r))?
        .ok_or_else(|| format!("{}: no manifest.json", tar.display()))?;
    let image = match manifest.as_slice() {
        [one] => one,
        [] => return Err(format!("{}: manifest.json lists no image", tar.display())),
        many => {
            return Err(format!(
                "{} holds {} images ({}); save one image per archive",
                tar.display(),
                many.len(),
                many.iter()
                    .flat_map(|m| m.repo_tags.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let config = member(tar, &image.config, |r| read_json::<ConfigFile>(r))?
        .ok_or_else(|| format!("{}: the config {} is missing", tar.display(), image.config))?;
    for name in &image.layers {
        member(tar, name, |r| {
            let mut r = std::io::BufReader::new(r);
            // An uncompressed tar has "ustar" at offset 257; a gzip'd
            // layer starts with 1f 8b.
            let head = std::io::BufRead::fill_buf(&mut r).map_err(|e| e.to_string())?;
            if head.starts_with(&[0x1f, 0x8b]) {
                return Err("compressed layers are not supported yet".into());
            }
            layer::apply(r, rootfs)
        })?
        .ok_or_else(|| format!("{}: the layer {name} is missing", tar.display()))?;
    }
    Ok(config.config.map(ImageConfig::from).unwrap_or_default())
}

impl From<RunConfig> for ImageConfig {
    fn from(c: RunConfig) -> ImageConfig {
        ImageConfig {
            env: c.env.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            working_dir: c.working_dir.filter(|w| !w.is_empty()),
            user: c.user.filter(|u| !u.is_empty()),
            // "8080/tcp" → 8080; udp ports cannot be probed by a connect.
            ports: c
                .exposed_ports
                .unwrap_or_default()
                .keys()
                .filter_map(|k| {
                    let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                    (proto == "tcp").then(|| port.parse().ok()).flatten()
                })
                .collect(),
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(r: &mut dyn Read) -> Result<T, String> {
    serde_json::from_reader(r).map_err(|e| e.to_string())
}

/// Find member `name` of the archive `tar` and hand its content to `f`;
/// `None` when there is no such member.
fn member<T>(
    tar: &Path,
    name: &str,
    f: impl FnOnce(&mut dyn Read) -> Result<T, String>,
) -> Result<Option<T>, String> {
    let file = File::open(tar).map_err(|e| format!("{}: {e}", tar.display()))?;
    let mut archive = tar::Archive::new(file);
    let wanted = name.trim_start_matches("./");
    for entry in archive
        .entries()
        .map_err(|e| format!("{}: {e}", tar.display()))?
    {
        let mut entry = entry.map_err(|e| format!("{}: {e}", tar.display()))?;
        let path = entry
            .path()
            .map_err(|e| format!("{}: {e}", tar.display()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if path == wanted {
            return f(&mut entry)
                .map(Some)
                .map_err(|e| format!("{}: {name}: {e}", tar.display()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, path, *data)
                .expect("append");
        }
        builder.into_inner().expect("finish")
    }

    #[test]
    fn layers_apply_in_order_and_the_config_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = tar_of(&[("etc/motd", b"base"), ("bin/tool", b"x")]);
        let top = tar_of(&[("etc/motd", b"top"), ("bin/.wh.tool", b"")]);
        let config = serde_json::json!({"config": {
            "Env": ["PATH=/bin", "A=1"],
            "Entrypoint": ["/bin/sh"],
            "Cmd": ["-c", "true"],
            "WorkingDir": "/srv",
            "User": "nobody",
            "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        }});
        let manifest = serde_json::json!([{
            "Config": "cfg.json",
            "RepoTags": ["x:1"],
            "Layers": ["l1/layer.tar", "l2/layer.tar"],
        }]);
        let archive = dir.path().join("image.tar");
        std::fs::write(
            &archive,
            tar_of(&[
                ("manifest.json", manifest.to_string().as_bytes()),
                ("cfg.json", config.to_string().as_bytes()),
                ("l2/layer.tar", &top),
                ("l1/layer.tar", &base),
            ]),
        )
        .expect("write archive");
        assert!(is_docker_archive(&archive).expect("probe"));
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir(&rootfs).expect("mkdir");
        let rootfs = rootfs.canonicalize().expect("canonical");
        let image = import(&archive, &rootfs).expect("import");
        assert_eq!(
            std::fs::read_to_string(rootfs.join("etc/motd")).expect("motd"),
            "top"
        );
        assert!(!rootfs.join("bin/tool").exists(), "whited out");
        assert_eq!(image.env, ["PATH=/bin", "A=1"]);
        assert_eq!(image.command(), ["/bin/sh", "-c", "true"]);
        assert_eq!(image.working_dir.as_deref(), Some("/srv"));
        assert_eq!(image.user.as_deref(), Some("nobody"));
        assert_eq!(image.ports, [8080], "udp ports cannot be probed");
    }

    #[test]
    fn a_plain_rootfs_tar_is_not_an_archive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rootfs.tar");
        std::fs::write(&path, tar_of(&[("bin/sh", b"x")])).expect("write");
        assert!(!is_docker_archive(&path).expect("probe"));
    }
}
