//! `cowpi <ELF> sdcard`, end to end: the image it writes is checked with the tools a person would use.
//!
//! `fsck.vfat -n` (dosfstools) checks the FAT32 partition, `mdir` and `mcopy` (mtools, which read a
//! partition at an offset: `image@@1M`) list it and copy every file back out to compare byte for byte.
//! These tools are required, not optional: without them the tests fail with a message saying to run
//! tools/setup.sh (CI runs it first). The kernel is the real one when it has been built, else a tiny
//! hand-made ELF; the firmware is a temporary folder of fake files with known bytes, so the tests need
//! neither the raspi-firmware package nor a network. Bad arguments must give one clear line and leave no
//! file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::elf_for;

/// A fresh, empty folder for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdcard").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the test folder can be made");
    dir
}

/// The kernel ELF, copied into `dir`: the real kernel if it is built, else a small hand-made one.
fn kernel_elf(dir: &Path) -> PathBuf {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/aarch64-unknown-none/debug/cowpi");
    let bytes = std::fs::read(&real).unwrap_or_else(|_| {
        // Enough bytes to span several FAT clusters, none of them zero-filled.
        elf_for(&(0..20_000u32).map(|i| (i % 253 + 1) as u8).collect::<Vec<_>>())
    });
    let path = dir.join("kernel");
    std::fs::write(&path, bytes).expect("the test ELF can be written");
    path
}

/// A fake firmware folder holding `names`, each with bytes made from its name (and so known).
fn fake_firmware(dir: &Path, names: &[&str]) -> PathBuf {
    let firmware = dir.join("firmware");
    std::fs::create_dir_all(&firmware).unwrap();
    for name in names {
        std::fs::write(firmware.join(name), fake_bytes(name)).unwrap();
    }
    firmware
}

fn fake_bytes(name: &str) -> Vec<u8> {
    format!("fake firmware {name}\n").repeat(100).into_bytes()
}

fn cowpi(args: &[&str]) -> (Output, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cowpi"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cowpi runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// The path of `tool`, looked for in PATH and the sbin folders (fsck.vfat lives in /usr/sbin, which a
/// normal user's PATH may lack). Missing, it fails the test: these checks must not pass by not running.
fn required_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{tool} is not installed; run tools/setup.sh (it installs {package}, which these tests need)"
            )
        })
}

/// Runs `tool` and returns its stdout; fails the test with its output if it does not succeed.
fn check(command: &mut Command) -> String {
    let output = command.output().expect("the checking tool runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The files in `dir`, sorted: to show that a failed run left nothing, not even a temporary file.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Builds the card for `board` and checks it with fsck.vfat, mdir and mcopy.
fn the_card_for(board: &str, firmware_files: &[&str]) {
    let fsck = required_tool("fsck.vfat", "dosfstools");
    let mdir = required_tool("mdir", "mtools");
    let mcopy = required_tool("mcopy", "mtools");

    let dir = test_dir(board);
    let elf = kernel_elf(&dir);
    let firmware = fake_firmware(&dir, firmware_files);
    let image = dir.join("card.img");
    let (output, stdout, stderr) = cowpi(&[
        elf.to_str().unwrap(),
        "sdcard",
        "--board",
        board,
        "-o",
        image.to_str().unwrap(),
        "--firmware",
        firmware.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with(&format!("wrote {} (64 MiB", image.display())), "{stdout}");
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len(), 64 << 20);
    assert_eq!(bytes[446 + 4], 0x0C, "the partition is FAT32 (LBA)");
    assert_eq!(listing(&dir), ["card.img", "firmware", "kernel"], "no temporary file is left");

    // fsck.vfat reads a whole device, so give it the partition alone.
    let partition = dir.join("partition.img");
    std::fs::write(&partition, &bytes[1 << 20..]).unwrap();
    check(Command::new(&fsck).arg("-n").arg(&partition));

    let on_card = format!("{}@@1M", image.display());
    let listed = check(Command::new(&mdir).args(["-b", "-i", &on_card, "::"]));
    let mut listed: Vec<&str> = listed.lines().map(|line| line.trim_start_matches("::/")).collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> =
        firmware_files.iter().copied().chain(["config.txt", "kernel8.img"]).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "the card holds exactly these files");

    // kernel8.img must be what the image command makes from the same ELF.
    let kernel8 = dir.join("expected-kernel8.img");
    let (output, _, stderr) = cowpi(&[elf.to_str().unwrap(), "image", "-o", kernel8.to_str().unwrap()]);
    assert!(output.status.success(), "{stderr}");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/config.txt");
    let mut wanted = vec![
        ("kernel8.img", std::fs::read(&kernel8).unwrap()),
        ("config.txt", std::fs::read(config).unwrap()),
    ];
    wanted.extend(firmware_files.iter().map(|name| (*name, fake_bytes(name))));
    for (name, expected) in wanted {
        let copy = dir.join(format!("copied-{name}"));
        check(Command::new(&mcopy).args(["-i", &on_card, &format!("::{name}")]).arg(&copy));
        assert!(std::fs::read(&copy).unwrap() == expected, "{name} on the card differs from its source");
    }
}

#[test]
fn the_raspi4b_card_passes_fsck_and_holds_exactly_its_boot_files() {
    the_card_for("raspi4b", &["start4.elf", "fixup4.dat"]);
}

#[test]
fn the_raspi3b_card_passes_fsck_and_holds_exactly_its_boot_files() {
    the_card_for("raspi3b", &["bootcode.bin", "start.elf", "fixup.dat"]);
}

/// Runs `sdcard` with `args` after the ELF in a fresh folder, expecting failure; returns stderr and checks
/// that the folder holds nothing new.
fn refused(name: &str, args: impl Fn(&Path) -> Vec<String>) -> String {
    let dir = test_dir(name);
    let elf = kernel_elf(&dir);
    fake_firmware(&dir, &["start4.elf"]);
    let before = listing(&dir);
    let args = args(&dir);
    let mut all = vec![elf.to_str().unwrap(), "sdcard"];
    all.extend(args.iter().map(String::as_str));
    let (output, _, stderr) = cowpi(&all);
    assert!(!output.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert_eq!(listing(&dir), before, "a failed run leaves no file");
    stderr
}

fn path_arg(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

#[test]
fn an_unknown_board_is_refused_and_writes_nothing() {
    let stderr = refused("unknown_board", |dir| {
        vec!["--board".into(), "raspi9".into(), "-o".into(), path_arg(dir, "card.img")]
    });
    assert_eq!(stderr, "cowpi: unknown board \"raspi9\"; known boards: raspi3b, raspi4b\n");
}

#[test]
fn missing_firmware_names_the_files_and_where_to_get_them() {
    let stderr = refused("missing_firmware", |dir| {
        let firmware = path_arg(dir, "firmware");
        vec![
            "--board".into(),
            "raspi4b".into(),
            "-o".into(),
            path_arg(dir, "card.img"),
            "--firmware".into(),
            firmware,
        ]
    });
    assert!(
        stderr.starts_with("cowpi: the Raspberry Pi firmware is missing: fixup4.dat not found in "),
        "{stderr}"
    );
    assert!(stderr.ends_with("; the --firmware folder must hold them\n"), "{stderr}");

    // Without --firmware the default folder is Debian's; if that is not installed, the package is named.
    if !Path::new("/usr/lib/raspi-firmware/start4.elf").is_file() {
        let stderr = refused("missing_default_firmware", |dir| {
            vec!["--board".into(), "raspi4b".into(), "-o".into(), path_arg(dir, "card.img")]
        });
        assert!(
            stderr.contains("install Debian's raspi-firmware package (component non-free-firmware"),
            "{stderr}"
        );
        assert!(stderr.contains("tools/setup.sh"), "{stderr}");
    }
}

#[test]
fn an_unwritable_output_is_refused_and_leaves_nothing() {
    // A folder that does not exist, and a path whose "folder" is a file: root may write anywhere else.
    for (name, output) in [("no_folder", "missing/card.img"), ("file_as_folder", "kernel/card.img")] {
        let stderr = refused(name, |dir| {
            let firmware = fake_firmware(dir, &["start4.elf", "fixup4.dat"]);
            vec![
                "--board".into(),
                "raspi4b".into(),
                "-o".into(),
                path_arg(dir, output),
                "--firmware".into(),
                firmware.to_str().unwrap().into(),
            ]
        });
        assert!(stderr.starts_with("cowpi: cannot write "), "{stderr}");
        assert!(stderr.contains("card.img: "), "{stderr}");
    }
}
