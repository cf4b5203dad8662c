//! What the installer owns on the node (the plugins, the multus configuration, the kubeconfig) and
//! how it brings them in line with their sources.

use std::fs;
use std::path::{Path, PathBuf};

use crate::flags::{ConfSource, Options};
use crate::{files, kubeconfig, log, multus_conf};

/// Mode of the multus configuration.
const CONF_MODE: u32 = 0o644;
/// Mode of the kubeconfig: it holds the service account's token.
const KUBECONFIG_MODE: u32 = 0o600;

/// Where the multus configuration stands after [`Installer::reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfState {
    /// The configuration on disk is the one its source asks for.
    Current,
    /// There is nothing to write yet (no cluster network config, or one that does not parse); why.
    Waiting(String),
}

/// The installer's files on one node.
#[derive(Debug)]
pub struct Installer {
    options: Options,
    /// The last reason for waiting that was logged, so a repeated one is not logged again.
    last_wait: Option<String>,
}

impl Installer {
    /// An installer for these options.
    pub fn new(options: Options) -> Installer {
        Installer {
            options,
            last_wait: None,
        }
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Where the multus configuration goes (in the conf dir as mounted here).
    pub fn conf_path(&self) -> PathBuf {
        let name = match &self.options.conf_source {
            ConfSource::Auto => multus_conf::MULTUS_CONF_NAME.into(),
            ConfSource::File(path) => path.file_name().unwrap_or_default().to_os_string(),
        };
        self.options.cni_conf_dir.join(name)
    }

    /// The directory of the kubeconfig (in the conf dir as mounted here).
    pub fn kubeconfig_dir(&self) -> PathBuf {
        self.options.cni_conf_dir.join("multus.d")
    }

    fn kubeconfig_path(&self) -> PathBuf {
        self.kubeconfig_dir().join("multus.kubeconfig")
    }

    /// Copies each plugin into the bin dir (atomically).
    pub fn install_plugins(&self) -> Result<(), String> {
        for (name, source) in &self.options.plugins {
            let target = self.options.cni_bin_dir.join(name);
            files::install_executable(source, &target)
                .map_err(|e| format!("installing {name}: {e}"))?;
            log(&format!(
                "installed {} from {}",
                target.display(),
                source.display()
            ));
        }
        Ok(())
    }

    /// Brings the kubeconfig and the multus configuration in line with their sources: writes what
    /// differs, removes the configuration when there is no cluster network config any more.
    pub fn reconcile(&mut self) -> Result<ConfState, String> {
        self.reconcile_kubeconfig()?;
        let desired = match &self.options.conf_source {
            ConfSource::File(source) => fs::read(source)
                .map(Some)
                .map_err(|e| format!("--multus-conf-file: {}: {e}", source.display()))?,
            ConfSource::Auto => match self.auto_conf() {
                Ok(conf) => conf,
                Err(reason) => return Ok(self.wait(reason)),
            },
        };
        let target = self.conf_path();
        match desired {
            Some(content) => self.write_if_changed(&target, &content, CONF_MODE)?,
            None => {
                if files::remove_if_present(&target).map_err(|e| e.to_string())? {
                    log(&format!(
                        "removed {}: no cluster network config left",
                        target.display()
                    ));
                }
                let dir = self.options.cni_conf_dir.display();
                let reason = match &self.options.master_file_name {
                    Some(name) => format!("no {name} (--multus-master-cni-file-name) in {dir}"),
                    None => format!(
                        "no CNI config (.conf, .conflist, .json) in {dir} to use as the cluster network"
                    ),
                };
                return Ok(self.wait(reason));
            }
        }
        self.last_wait = None;
        Ok(ConfState::Current)
    }

    /// The generated configuration, `None` if the conf dir has no cluster network config; an error
    /// (the file and what is wrong) if it has one that cannot be read.
    fn auto_conf(&self) -> Result<Option<Vec<u8>>, String> {
        let dir = &self.options.cni_conf_dir;
        let named = self.options.master_file_name.as_deref();
        let Some(name) = multus_conf::cluster_network_file(dir, named)
            .map_err(|e| format!("{}: {e}", dir.display()))?
        else {
            return Ok(None);
        };
        let network = multus_conf::read_network(&dir.join(&name))?;
        let host_path = self.options.cni_conf_dir_host.join(&name);
        let conf = multus_conf::generate(&self.options, &host_path, &network);
        Ok(Some(format!("{conf:#}\n").into_bytes()))
    }

    /// Logs why there is nothing to write (once per reason) and says so.
    fn wait(&mut self, reason: String) -> ConfState {
        if self.last_wait.as_ref() != Some(&reason) {
            log(&format!("waiting: {reason}"));
            self.last_wait = Some(reason.clone());
        }
        ConfState::Waiting(reason)
    }

    fn reconcile_kubeconfig(&self) -> Result<(), String> {
        let sa_dir = &self.options.service_account_dir;
        if !kubeconfig::has_service_account(sa_dir) {
            return Ok(());
        }
        let content = kubeconfig::from_service_account(sa_dir, |v| std::env::var(v).ok())?;
        let dir = self.kubeconfig_dir();
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.write_if_changed(&self.kubeconfig_path(), content.as_bytes(), KUBECONFIG_MODE)
    }

    fn write_if_changed(&self, target: &Path, content: &[u8], mode: u32) -> Result<(), String> {
        let current = files::read_if_present(target).map_err(|e| e.to_string())?;
        if current.as_deref() != Some(content) {
            files::write(target, content, mode).map_err(|e| e.to_string())?;
            log(&format!("wrote {}", target.display()));
        }
        Ok(())
    }

    /// Removes the configuration and the kubeconfig this installer writes (not the plugins: pods
    /// still running need them for DEL; not a kubeconfig it did not write, without a service account).
    pub fn cleanup(&self) -> Result<(), String> {
        let wrote_kubeconfig = kubeconfig::has_service_account(&self.options.service_account_dir);
        let kubeconfig = wrote_kubeconfig.then(|| self.kubeconfig_path());
        for path in [Some(self.conf_path()), kubeconfig].into_iter().flatten() {
            if files::remove_if_present(&path).map_err(|e| e.to_string())? {
                log(&format!("removed {}", path.display()));
            }
        }
        // Only if empty: someone else's files there stay.
        let _ = fs::remove_dir(self.kubeconfig_dir());
        Ok(())
    }
}
