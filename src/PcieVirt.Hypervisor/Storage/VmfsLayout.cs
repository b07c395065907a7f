using System.Buffers.Binary;

namespace PcieVirt.Hypervisor.Storage;

/// <summary>A VMFS volume is unusable: a corrupted or foreign superblock or table, a lock held by another host, no space.</summary>
public sealed class VmfsException(string message) : Exception(message);

/// <summary>Options of <see cref="Vmfs.Format"/>.</summary>
public sealed record VmfsFormatOptions
{
    /// <summary>Seed of the volume UUID (deterministic: the same seed gives the same UUID).</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>File block size: the allocation unit of files (a power of two, 4 KiB..256 MiB).</summary>
    public int FileBlockSize { get; init; } = 1 << 20;
    /// <summary>Entries of the file descriptor table.</summary>
    public int MaxFiles { get; init; } = 256;
    /// <summary>Volume label (up to 63 UTF-8 bytes).</summary>
    public string Label { get; init; } = "datastore1";
    /// <summary>Host that formats and then holds the mount (owner of files it creates).</summary>
    public ulong HostId { get; init; } = 1;
}

/// <summary>
/// The on-disk geometry of a volume, computed from the file block size, the file block count and the
/// descriptor count alone (so a mount can recompute it and compare it with the superblock).
/// Units: metadata blocks of <see cref="MetaBlockSize"/> bytes from the start of the device.
/// </summary>
internal readonly record struct VmfsLayout(uint FileBlockCount, uint MaxFiles, uint BitmapStart, uint BitmapBlocks,
    uint PbBitmapStart, uint PbBitmapBlocks, uint FdtStart, uint FdtBlocks, uint PbStart, uint PbCount, uint MetadataFileBlocks)
{
    public const int MetaBlockSize = 4096;
    public const int DescriptorSize = 512;
    public const int DescriptorsPerBlock = MetaBlockSize / DescriptorSize;
    public const int DirectPointers = 16;
    public const int IndirectPointers = 64;
    public const int EntriesPerPointerBlock = MetaBlockSize / 4;
    public const int BitsPerBlock = MetaBlockSize * 8;
    public const int NameBytes = 64;

    public static VmfsLayout Compute(int fileBlockSize, uint fileBlockCount, uint maxFiles)
    {
        uint bitmapBlocks = Ceil(fileBlockCount, BitsPerBlock);
        // Worst case every file block sits behind a pointer block, and each file has one partly used.
        uint pbCount = Ceil(fileBlockCount, EntriesPerPointerBlock) + maxFiles;
        uint pbBitmapBlocks = Ceil(pbCount, BitsPerBlock);
        uint fdtBlocks = Ceil(maxFiles, DescriptorsPerBlock);
        uint bitmapStart = 1;
        uint pbBitmapStart = bitmapStart + bitmapBlocks;
        uint fdtStart = pbBitmapStart + pbBitmapBlocks;
        uint pbStart = fdtStart + fdtBlocks;
        ulong metaBytes = (ulong)(pbStart + pbCount) * MetaBlockSize;
        uint metadataFileBlocks = (uint)((metaBytes + (ulong)fileBlockSize - 1) / (ulong)fileBlockSize);
        return new VmfsLayout(fileBlockCount, maxFiles, bitmapStart, bitmapBlocks, pbBitmapStart, pbBitmapBlocks,
            fdtStart, fdtBlocks, pbStart, pbCount, metadataFileBlocks);
    }

    static uint Ceil(uint a, int b) => (uint)((a + (ulong)b - 1) / (ulong)b);
}

/// <summary>Byte offsets of the superblock (metadata block 0) and of a file descriptor; see spec-notes/vmfs.md.</summary>
internal static class VmfsFormat
{
    /// <summary>"PVVMFS01" read as a little-endian 64-bit value.</summary>
    public const ulong Magic = 0x31_30_53_46_4D_56_56_50;
    public const uint FormatVersion = 1;
    /// <summary>"FDSC" read as a little-endian 32-bit value: a descriptor in use.</summary>
    public const uint DescriptorMagic = 0x43_53_44_46;

    // Superblock.
    public const int SbMagic = 0, SbVersion = 8, SbDeviceBlockSize = 12, SbUuid = 16, SbMetaBlockSize = 32, SbFileBlockSize = 36,
        SbDeviceBlockCount = 40, SbFileBlockCount = 48, SbMaxFiles = 52, SbBitmapStart = 56, SbBitmapBlocks = 60,
        SbPbBitmapStart = 64, SbPbBitmapBlocks = 68, SbFdtStart = 72, SbFdtBlocks = 76, SbPbStart = 80, SbPbCount = 84,
        SbMetadataFileBlocks = 88, SbDirectPointers = 92, SbIndirectPointers = 96, SbEntriesPerPointerBlock = 100,
        SbLabel = 104, SbChecksum = VmfsLayout.MetaBlockSize - 4;

    // File descriptor.
    public const int FdMagic = 0, FdFlags = 4, FdSize = 8, FdLockOwner = 16, FdLockGeneration = 24, FdAllocatedBlocks = 32,
        FdName = 40, FdDirect = 104, FdIndirect = FdDirect + 4 * VmfsLayout.DirectPointers, FdChecksum = VmfsLayout.DescriptorSize - 4;

    public const uint FlagThin = 1, FlagEagerZeroed = 2;

    /// <summary>FNV-1a, 32 bits: catches torn or scribbled metadata (not an integrity guarantee).</summary>
    public static uint Checksum(ReadOnlySpan<byte> data)
    {
        uint h = 2166136261;
        foreach (byte b in data) h = (h ^ b) * 16777619;
        return h;
    }

    public static void Seal(Span<byte> structure) =>
        BinaryPrimitives.WriteUInt32LittleEndian(structure[^4..], Checksum(structure[..^4]));

    public static bool IsSealed(ReadOnlySpan<byte> structure) =>
        BinaryPrimitives.ReadUInt32LittleEndian(structure[^4..]) == Checksum(structure[..^4]);

    /// <summary>A version-4-style UUID from <paramref name="seed"/> (SplitMix64), so formats are reproducible.</summary>
    public static Guid UuidFromSeed(ulong seed)
    {
        Span<byte> b = stackalloc byte[16];
        ulong s = seed;
        BinaryPrimitives.WriteUInt64LittleEndian(b, SplitMix(ref s));
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], SplitMix(ref s));
        b[7] = (byte)((b[7] & 0x0F) | 0x40); // version 4 (in Guid's little-endian field order)
        b[8] = (byte)((b[8] & 0x3F) | 0x80); // RFC 4122 variant
        return new Guid(b);
    }

    static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
