//! `bedside init`: write the commented example configuration.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config;

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write it; `-` prints it instead.
    #[arg(default_value = "bedside.toml", value_name = "FILE")]
    pub output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &InitArgs) -> ExitCode {
    let text = config::example_file();
    if args.output.as_os_str() == "-" {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let written = options
        .open(&args.output)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {}; every key is commented out at its default. Check your changes with: \
                 bedside --config {} check",
                args.output.display(),
                args.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} already exists; pass --force to replace it, or give another file name",
                args.output.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.output.display());
            ExitCode::FAILURE
        }
    }
}
