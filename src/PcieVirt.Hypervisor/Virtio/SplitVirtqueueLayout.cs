using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>
/// Sizes, alignments and field offsets of a split virtqueue in guest memory (VIRTIO 1.x §2.7). All fields are
/// little-endian. Offsets are relative to the start of the part they belong to.
/// </summary>
public static class SplitVirtqueueLayout
{
    /// <summary>Largest queue size: the largest power of two a 16-bit index can tell full from empty with (§2.7.13).</summary>
    public const int MaxQueueSize = 32768;

    /// <summary>Bytes per descriptor: le64 addr, le32 len, le16 flags, le16 next (§2.7.5).</summary>
    public const int DescriptorSize = 16;

    /// <summary>Bytes per used-ring element: le32 id, le32 len (§2.7.8).</summary>
    public const int UsedElementSize = 8;

    /// <summary>Minimum alignment of the descriptor table (§2.7, alignment table).</summary>
    public const int DescriptorTableAlignment = 16;

    /// <summary>Minimum alignment of the available ring.</summary>
    public const int AvailableRingAlignment = 2;

    /// <summary>Minimum alignment of the used ring.</summary>
    public const int UsedRingAlignment = 4;

    public const int DescAddrOffset = 0;
    public const int DescLenOffset = 8;
    public const int DescFlagsOffset = 12;
    public const int DescNextOffset = 14;

    public const int AvailFlagsOffset = 0;
    public const int AvailIdxOffset = 2;
    public const int AvailRingOffset = 4;

    public const int UsedFlagsOffset = 0;
    public const int UsedIdxOffset = 2;
    public const int UsedRingOffset = 4;

    /// <summary>A queue size is valid when it is a power of two from 1 to 32768 (§2.7).</summary>
    public static bool IsValidQueueSize(int queueSize) =>
        queueSize > 0 && queueSize <= MaxQueueSize && (queueSize & (queueSize - 1)) == 0;

    /// <summary>16 × queue size.</summary>
    public static int DescriptorTableSize(int queueSize) => DescriptorSize * queueSize;

    /// <summary>6 + 2 × queue size: flags, idx, ring[], used_event.</summary>
    public static int AvailableRingSize(int queueSize) => 6 + 2 * queueSize;

    /// <summary>6 + 8 × queue size: flags, idx, ring[], avail_event.</summary>
    public static int UsedRingSize(int queueSize) => 6 + UsedElementSize * queueSize;

    /// <summary>Offset of available-ring entry <paramref name="slot"/>.</summary>
    public static int AvailRingEntryOffset(int slot) => AvailRingOffset + 2 * slot;

    /// <summary>Offset of used_event (after the available ring's entries; present with VIRTIO_F_EVENT_IDX).</summary>
    public static int UsedEventOffset(int queueSize) => AvailRingOffset + 2 * queueSize;

    /// <summary>Offset of used-ring element <paramref name="slot"/>.</summary>
    public static int UsedElementOffset(int slot) => UsedRingOffset + UsedElementSize * slot;

    /// <summary>Offset of avail_event (after the used ring's elements; present with VIRTIO_F_EVENT_IDX).</summary>
    public static int AvailEventOffset(int queueSize) => UsedRingOffset + UsedElementSize * queueSize;

    /// <summary>
    /// Legacy contiguous layout (§2.7.2): descriptor table and available ring, padded to <paramref name="queueAlign"/>,
    /// then the used ring. Returns the used ring's offset from the start of the area.
    /// </summary>
    public static long LegacyUsedRingOffset(int queueSize, int queueAlign) =>
        AlignUp(DescriptorTableSize(queueSize) + AvailableRingSize(queueSize), queueAlign);

    /// <summary>Total bytes of the legacy contiguous layout: both halves rounded up to <paramref name="queueAlign"/>.</summary>
    public static long LegacyTotalSize(int queueSize, int queueAlign) =>
        LegacyUsedRingOffset(queueSize, queueAlign) + AlignUp(UsedRingSize(queueSize), queueAlign);

    static long AlignUp(long value, int alignment)
    {
        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
            throw new ArgumentException("alignment must be a power of two", nameof(alignment));
        return (value + alignment - 1) & ~(long)(alignment - 1);
    }
}

/// <summary>Where the three parts of one split virtqueue live in guest-physical memory, and its size.</summary>
public readonly record struct VirtqueueAddresses(ulong DescriptorTable, ulong AvailableRing, ulong UsedRing, int QueueSize)
{
    /// <summary>
    /// Null when the queue is usable in <paramref name="memory"/>: a valid size, each part aligned as §2.7 requires
    /// and wholly inside memory. Otherwise the reason (for the log).
    /// </summary>
    public string? Validate(IPhysicalMemory memory)
    {
        if (!SplitVirtqueueLayout.IsValidQueueSize(QueueSize))
            return $"queue size {QueueSize} is not a power of two in 1..32768";
        if (DescriptorTable % SplitVirtqueueLayout.DescriptorTableAlignment != 0)
            return $"descriptor table 0x{DescriptorTable:x} is not 16-byte aligned";
        if (AvailableRing % SplitVirtqueueLayout.AvailableRingAlignment != 0)
            return $"available ring 0x{AvailableRing:x} is not 2-byte aligned";
        if (UsedRing % SplitVirtqueueLayout.UsedRingAlignment != 0)
            return $"used ring 0x{UsedRing:x} is not 4-byte aligned";
        if (!memory.Contains(DescriptorTable, SplitVirtqueueLayout.DescriptorTableSize(QueueSize)))
            return $"descriptor table 0x{DescriptorTable:x} is outside guest memory";
        if (!memory.Contains(AvailableRing, SplitVirtqueueLayout.AvailableRingSize(QueueSize)))
            return $"available ring 0x{AvailableRing:x} is outside guest memory";
        if (!memory.Contains(UsedRing, SplitVirtqueueLayout.UsedRingSize(QueueSize)))
            return $"used ring 0x{UsedRing:x} is outside guest memory";
        return null;
    }
}

/// <summary>One buffer element a driver offers: guest-physical address and length.</summary>
public readonly record struct VirtqBuffer(ulong Gpa, uint Length);

/// <summary>One element of a chain as the device sees it: address, length, and whether the device may write it.</summary>
public readonly record struct VirtqSegment(ulong Gpa, uint Length, bool Writable);
