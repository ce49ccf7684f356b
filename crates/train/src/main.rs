//! `auscult-train`: see the library ([`auscult_train`]) for the subcommands and what they write.

fn main() -> anyhow::Result<()> {
    auscult_train::main_entry()
}
