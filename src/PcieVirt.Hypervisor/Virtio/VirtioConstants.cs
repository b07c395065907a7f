namespace PcieVirt.Hypervisor.Virtio;

/// <summary>Device-independent feature bits of VIRTIO 1.x (§6 "Reserved Feature Bits"), as a 64-bit mask.</summary>
public static class VirtioFeatures
{
    /// <summary>VIRTIO_F_INDIRECT_DESC (bit 28): descriptors may point at an indirect descriptor table (§2.7.5.3).</summary>
    public const ulong IndirectDesc = 1UL << 28;

    /// <summary>VIRTIO_F_EVENT_IDX (bit 29): used_event / avail_event replace the flag-based suppression (§2.7.7, §2.7.10).</summary>
    public const ulong EventIdx = 1UL << 29;

    /// <summary>VIRTIO_F_VERSION_1 (bit 32): the device follows VIRTIO 1.x, not the legacy interface.</summary>
    public const ulong Version1 = 1UL << 32;
}

/// <summary>Bits of the device status field (§2.1).</summary>
[Flags]
public enum VirtioDeviceStatus : byte
{
    None = 0,
    Acknowledge = 1,
    Driver = 2,
    DriverOk = 4,
    FeaturesOk = 8,
    /// <summary>The device hit an error it cannot recover from without a reset (§2.1.2).</summary>
    DeviceNeedsReset = 64,
    Failed = 128,
}

/// <summary>The flags field of a split-virtqueue descriptor (§2.7.5).</summary>
[Flags]
public enum VirtqDescriptorFlags : ushort
{
    None = 0,
    /// <summary>VIRTQ_DESC_F_NEXT: the chain continues at <c>next</c>.</summary>
    Next = 1,
    /// <summary>VIRTQ_DESC_F_WRITE: the buffer is device-writable (otherwise device-readable).</summary>
    Write = 2,
    /// <summary>VIRTQ_DESC_F_INDIRECT: the buffer holds a table of descriptors (§2.7.5.3).</summary>
    Indirect = 4,
}

/// <summary>Ring flag values of the split virtqueue.</summary>
public static class VirtqRingFlags
{
    /// <summary>VIRTQ_AVAIL_F_NO_INTERRUPT in the available ring's flags: the driver does not want used-buffer notifications (§2.7.7).</summary>
    public const ushort AvailNoInterrupt = 1;

    /// <summary>VIRTQ_USED_F_NO_NOTIFY in the used ring's flags: the device does not want available-buffer notifications (§2.7.10).</summary>
    public const ushort UsedNoNotify = 1;
}

/// <summary>
/// The event-index test both sides use under VIRTIO_F_EVENT_IDX (§2.7.7.2, §2.7.10.1): a notification is due when
/// the index the other side asked about was among the entries just made visible.
/// </summary>
public static class VirtqEventIndex
{
    /// <summary>
    /// True when <paramref name="eventIdx"/> is one of the ring indices in [<paramref name="oldIdx"/>, <paramref name="newIdx"/>),
    /// counting modulo 2^16: the entries written since the last check moved the index from old to new.
    /// </summary>
    public static bool NeedsNotification(ushort eventIdx, ushort newIdx, ushort oldIdx)
    {
        // Entries old..new-1 were just published. The requested index is among them when its distance
        // back from new is at least 1 and at most the number of entries published; ushort casts give the
        // 16-bit wraparound for free (the window is at most the queue size, ≤ 32768).
        ushort behindNew = (ushort)(newIdx - eventIdx);
        ushort published = (ushort)(newIdx - oldIdx);
        return behindNew != 0 && behindNew <= published;
    }
}
