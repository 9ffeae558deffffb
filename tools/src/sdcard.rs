//! The SD-card image: an MBR partition table with one FAT32 partition holding the files the Pi boots from.
//!
//! The Pi's boot ROM (or, on the Pi 4, its boot EEPROM) reads the MBR, takes the first FAT partition and
//! loads the VideoCore firmware from it (`bootcode.bin`/`start.elf` on the Pi 3, `start4.elf` on the Pi 4),
//! which reads `config.txt` and loads `kernel8.img`. So the image is:
//!
//! - sector 0: an MBR (made with `mbrman`) with one primary partition of type 0x0C (FAT32, LBA);
//! - from 1 MiB (the alignment SD cards and partitioning tools use) to the end: that partition, formatted
//!   FAT32 and filled with `fatfs`, in memory, so no `mkfs` or loop device is needed.
//!
//! The image is [`IMAGE_BYTES`] (64 MiB) long. FAT32 needs at least 65,525 clusters; with 512-byte
//! clusters (what `fatfs` picks for FAT32 below 260 MiB) that is about 33 MiB, so the 63 MiB partition
//! holds about 128,000 clusters, comfortably FAT32, and the image stays small to write. `dd` writes it to
//! a card of any size; the rest of the card is left alone. Every identifier (disk signature, volume id)
//! and file time is fixed, so the same inputs give the same image byte for byte.

use std::io::{Cursor, Write};

use anyhow::{Context, Result, bail};
use fatfs::{Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider};
use mbrman::{BOOT_INACTIVE, CHS, MBR, MBRPartitionEntry};

/// The whole image: 64 MiB.
pub const IMAGE_BYTES: u64 = 64 << 20;

/// Where the FAT32 partition starts: 1 MiB, in bytes (mtools spells it `image@@1M`).
pub const PARTITION_START: u64 = 1 << 20;

/// Bytes per sector, in the MBR and the file system alike.
const SECTOR_BYTES: u64 = 512;

/// Bytes per cluster: the smallest, so that 63 MiB has enough clusters to be FAT32.
const CLUSTER_BYTES: u32 = 512;

/// MBR partition type: FAT32 addressed by LBA, the type the Pi firmware and Raspberry Pi OS use.
pub const FAT32_LBA: u8 = 0x0C;

/// The MBR's disk signature ("cowp"); fixed, so images are reproducible.
const DISK_SIGNATURE: [u8; 4] = *b"cowp";

/// The FAT volume id; fixed for the same reason.
const VOLUME_ID: u32 = 0x636f_7770;

/// The FAT volume label, space-padded to 11 bytes.
const VOLUME_LABEL: [u8; 11] = *b"COWPI-BOOT ";

/// Stamps every file with the FAT epoch, 1980-01-01 00:00, so images do not depend on the clock. (Without
/// it `fatfs` writes day 0 of month 0, which is no date.)
#[derive(Debug)]
struct FatEpoch;

impl TimeProvider for FatEpoch {
    fn get_current_date(&self) -> Date {
        Date { year: 1980, month: 1, day: 1 }
    }

    fn get_current_date_time(&self) -> DateTime {
        DateTime { date: self.get_current_date(), time: Time { hour: 0, min: 0, sec: 0, millis: 0 } }
    }
}

/// One file for the FAT partition's root folder.
pub struct BootFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The SD-card image holding `files` in the root folder of its FAT32 partition.
pub fn build(files: &[BootFile]) -> Result<Vec<u8>> {
    let mut image = vec![0; IMAGE_BYTES as usize];
    write_partition_table(&mut image)?;
    fill_partition(&mut image[PARTITION_START as usize..], files)?;
    Ok(image)
}

/// Writes the MBR: one FAT32 partition from [`PARTITION_START`] to the end of the image.
fn write_partition_table(image: &mut [u8]) -> Result<()> {
    let mut disk = Cursor::new(image);
    let mut mbr = MBR::new_from(&mut disk, SECTOR_BYTES as u32, DISK_SIGNATURE)
        .context("cannot make the partition table")?;
    mbr[1] = MBRPartitionEntry {
        boot: BOOT_INACTIVE,
        first_chs: CHS::empty(),
        sys: FAT32_LBA,
        last_chs: CHS::empty(),
        starting_lba: (PARTITION_START / SECTOR_BYTES) as u32,
        sectors: ((IMAGE_BYTES - PARTITION_START) / SECTOR_BYTES) as u32,
    };
    mbr.write_into(&mut disk).context("cannot write the partition table")
}

/// Formats `partition` as FAT32 and writes `files` into its root folder.
fn fill_partition(partition: &mut [u8], files: &[BootFile]) -> Result<()> {
    let options = FormatVolumeOptions::new()
        .fat_type(FatType::Fat32)
        .bytes_per_sector(SECTOR_BYTES as u16)
        .bytes_per_cluster(CLUSTER_BYTES)
        .volume_id(VOLUME_ID)
        .volume_label(VOLUME_LABEL);
    fatfs::format_volume(Cursor::new(&mut *partition), options)
        .context("cannot format the FAT32 partition")?;
    let fs = FileSystem::new(Cursor::new(&mut *partition), FsOptions::new().time_provider(&FatEpoch))
        .context("cannot open the freshly formatted FAT32 partition")?;
    // Counting the free clusters once makes `fatfs` keep the FSInfo sector's count up to date, so that
    // fsck.vfat finds it filled in rather than "uninitialized".
    fs.stats().context("cannot read the FAT32 partition's free space")?;
    let root = fs.root_dir();
    for file in files {
        if root.open_file(&file.name).is_ok() {
            bail!("two files are both called {} on the SD card", file.name);
        }
        let mut handle = root
            .create_file(&file.name)
            .with_context(|| format!("cannot create {} on the SD card", file.name))?;
        handle.write_all(&file.bytes).with_context(|| {
            format!(
                "cannot write {} ({} bytes) to the {} MiB SD-card partition",
                file.name,
                file.bytes.len(),
                (IMAGE_BYTES - PARTITION_START) >> 20
            )
        })?;
        handle.flush().with_context(|| format!("cannot write {} on the SD card", file.name))?;
    }
    drop(root);
    fs.unmount().context("cannot finish the FAT32 partition")
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn file(name: &str, bytes: &[u8]) -> BootFile {
        BootFile { name: name.into(), bytes: bytes.to_vec() }
    }

    #[test]
    fn the_mbr_has_one_fat32_lba_partition_from_1_mib_to_the_end() {
        let image = build(&[file("config.txt", b"arm_64bit=1\n")]).unwrap();
        assert_eq!(image.len() as u64, IMAGE_BYTES);
        assert_eq!(&image[510..512], &[0x55, 0xAA]);
        let entry = &image[446..462];
        assert_eq!(entry[4], FAT32_LBA);
        assert_eq!(u32::from_le_bytes(entry[8..12].try_into().unwrap()), 2048);
        assert_eq!(u32::from_le_bytes(entry[12..16].try_into().unwrap()), (IMAGE_BYTES / 512 - 2048) as u32);
        assert!(image[462..510].iter().all(|&b| b == 0), "only one partition");
    }

    #[test]
    fn the_partition_is_fat32_and_holds_the_files() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let image = build(&[file("kernel8.img", &big), file("config.txt", b"kernel=kernel8.img\n")]).unwrap();
        let mut image = image;
        let partition = Cursor::new(&mut image[PARTITION_START as usize..]);
        let fs = FileSystem::new(partition, FsOptions::new()).unwrap();
        assert_eq!(fs.fat_type(), FatType::Fat32);
        let mut names: Vec<String> = fs.root_dir().iter().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["config.txt", "kernel8.img"]);
        let mut read = Vec::new();
        fs.root_dir().open_file("kernel8.img").unwrap().read_to_end(&mut read).unwrap();
        assert_eq!(read, big);
    }

    #[test]
    fn the_same_files_give_the_same_image() {
        let files = [file("start4.elf", b"firmware"), file("config.txt", b"x")];
        assert!(build(&files).unwrap() == build(&files).unwrap());
    }

    #[test]
    fn files_that_do_not_fit_or_repeat_are_refused_with_a_reason() {
        let huge = vec![0; IMAGE_BYTES as usize];
        let error = format!("{:#}", build(&[file("kernel8.img", &huge)]).err().unwrap());
        assert!(error.contains("cannot write kernel8.img"), "{error}");
        let error = format!("{:#}", build(&[file("a.txt", b"1"), file("A.TXT", b"2")]).err().unwrap());
        assert!(error.contains("two files are both called A.TXT"), "{error}");
    }
}
