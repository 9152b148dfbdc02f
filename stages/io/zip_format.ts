/**
 * Constants of the ZIP container format (PKWARE APPNOTE 6.3), shared by the
 * reader and the writer. Only what dataset zips need: stored and deflated
 * entries, ZIP64 for archives past 4 GiB or 65,535 entries.
 * @module
 */

/** Record signatures (little-endian u32). */
export const SIGNATURE = {
  localFile: 0x04034b50,
  centralFile: 0x02014b50,
  endOfCentralDirectory: 0x06054b50,
  zip64EndOfCentralDirectory: 0x06064b50,
  zip64Locator: 0x07064b50,
} as const;

/** Fixed sizes of the records, before their variable-length fields. */
export const RECORD_SIZE = {
  localFile: 30,
  centralFile: 46,
  endOfCentralDirectory: 22,
  zip64EndOfCentralDirectory: 56,
  zip64Locator: 20,
} as const;

/** Compression methods. */
export const METHOD = { stored: 0, deflated: 8 } as const;

/** General-purpose flag bits. */
export const FLAG = { encrypted: 1 << 0, dataDescriptor: 1 << 3, utf8Names: 1 << 11 } as const;

/** The extra-field id that carries 64-bit sizes and offsets. */
export const ZIP64_EXTRA_ID = 0x0001;

/** A 32-bit size/offset field holding this value means "see the ZIP64 extra field". */
export const ZIP64_MARK_32 = 0xffffffff;
/** A 16-bit entry count holding this value means "see the ZIP64 end record". */
export const ZIP64_MARK_16 = 0xffff;

/** The EOCD comment is at most 65,535 bytes, so the EOCD lies within this many bytes of the end. */
export const MAX_EOCD_SEARCH = RECORD_SIZE.endOfCentralDirectory + 0xffff;

/** MS-DOS date of 1980-01-01, the earliest a zip can hold: fixed so archives are reproducible. */
export const FIXED_DOS_DATE = (0 << 9) | (1 << 5) | 1;
/** MS-DOS time 00:00:00. */
export const FIXED_DOS_TIME = 0;
