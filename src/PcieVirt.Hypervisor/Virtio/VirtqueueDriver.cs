using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;
using static PcieVirt.Hypervisor.Virtio.SplitVirtqueueLayout;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>
/// The guest driver's half of one split virtqueue (VIRTIO 1.x §2.7): owns the rings in guest memory, a free-descriptor
/// list, adds chains, publishes them, decides whether the device needs a notification (kick) and collects used
/// buffers. The driver keeps its own copy of each chain's links, so a device cannot corrupt its free list.
/// Not thread-safe: one guest vCPU drives it. Per-request calls allocate nothing.
/// </summary>
public sealed class VirtqueueDriver
{
    readonly IPhysicalMemory _memory;
    readonly ILogger _log;
    readonly ushort[] _next;          // free-list and chain links, the driver's own copy
    readonly ushort[] _chainLength;   // descriptors in the chain headed here (0 = not outstanding)
    ushort _freeHead;
    ushort _availIdx;                 // includes chains added but not yet published
    ushort _publishedIdx;
    ushort _lastUsedIdx;

    /// <summary>Allocates the three parts with the spec's minimum alignments from <paramref name="allocator"/> (zero-filled, so both flags start at 0, §2.7.10.1).</summary>
    public VirtqueueDriver(HostMemoryAllocator allocator, int queueSize, bool eventIdx = true, ILogger? logger = null)
    {
        if (!IsValidQueueSize(queueSize))
            throw new ArgumentOutOfRangeException(nameof(queueSize), queueSize, "queue size must be a power of two in 1..32768");
        _memory = allocator.Memory;
        _log = logger ?? NullLogger.Instance;
        QueueSize = queueSize;
        EventIdx = eventIdx;
        ulong desc = allocator.Allocate((ulong)DescriptorTableSize(queueSize), DescriptorTableAlignment);
        ulong avail = allocator.Allocate((ulong)AvailableRingSize(queueSize), AvailableRingAlignment);
        ulong used = allocator.Allocate((ulong)UsedRingSize(queueSize), UsedRingAlignment);
        Addresses = new VirtqueueAddresses(desc, avail, used, queueSize);
        _next = new ushort[queueSize];
        _chainLength = new ushort[queueSize];
        for (int i = 0; i < queueSize; i++) _next[i] = (ushort)((i + 1) % queueSize);
        FreeCount = queueSize;
    }

    /// <summary>Where the rings are (what the driver programs into the transport's queue registers).</summary>
    public VirtqueueAddresses Addresses { get; }
    public int QueueSize { get; }

    /// <summary>Whether VIRTIO_F_EVENT_IDX was negotiated (used_event/avail_event instead of the ring flags).</summary>
    public bool EventIdx { get; }

    /// <summary>Free descriptors.</summary>
    public int FreeCount { get; private set; }

    /// <summary>The descriptor the next chain will start at (its head), or -1 when none is free.</summary>
    public int NextHead => FreeCount == 0 ? -1 : _freeHead;

    /// <summary>Set when the device returned a used entry that names no outstanding chain; the queue stops.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Result of the last <see cref="Publish"/>: whether the device asked to be notified about the entries it made visible.</summary>
    public bool NeedsKick { get; private set; }

    /// <summary>
    /// Writes a chain of device-readable buffers followed by device-writable ones (§2.7.4.2 requires that order)
    /// into free descriptors and puts its head in the next available-ring slot. The device sees it only after
    /// <see cref="Publish"/>. False (nothing changed) when there are not enough free descriptors or no buffers.
    /// </summary>
    public bool TryAddChain(ReadOnlySpan<VirtqBuffer> readable, ReadOnlySpan<VirtqBuffer> writable, out ushort head)
    {
        head = 0;
        int count = readable.Length + writable.Length;
        if (count == 0 || count > FreeCount || IsBroken) return false;
        head = _freeHead;
        ushort d = head;
        Span<byte> desc = stackalloc byte[DescriptorSize];
        for (int i = 0; i < count; i++)
        {
            bool isWritable = i >= readable.Length;
            VirtqBuffer b = isWritable ? writable[i - readable.Length] : readable[i];
            bool last = i == count - 1;
            var flags = (isWritable ? VirtqDescriptorFlags.Write : 0) | (last ? 0 : VirtqDescriptorFlags.Next);
            // The chain follows the free list, so the link to the next element is already in _next (§2.7.13.1).
            BinaryPrimitives.WriteUInt64LittleEndian(desc[DescAddrOffset..], b.Gpa);
            BinaryPrimitives.WriteUInt32LittleEndian(desc[DescLenOffset..], b.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(desc[DescFlagsOffset..], (ushort)flags);
            BinaryPrimitives.WriteUInt16LittleEndian(desc[DescNextOffset..], last ? (ushort)0 : _next[d]);
            _memory.Write(Addresses.DescriptorTable + (ulong)(d * DescriptorSize), desc);
            if (!last) d = _next[d];
        }
        _freeHead = _next[d];
        FreeCount -= count;
        _chainLength[head] = (ushort)count;
        WriteU16(Addresses.AvailableRing + (ulong)AvailRingEntryOffset(_availIdx & (QueueSize - 1)), head);
        _availIdx++;
        return true;
    }

    /// <summary>
    /// Makes every chain added since the last call visible by writing the available ring's idx, then decides whether
    /// the device must be notified (§2.7.13.3-4) and stores that in <see cref="NeedsKick"/>.
    /// </summary>
    public void Publish()
    {
        ushort old = _publishedIdx;
        if (old == _availIdx)
        {
            NeedsKick = false;
            return;
        }
        // Descriptors and ring entries must be visible before idx (§2.7.13.3.1); idx must be visible before
        // reading the device's suppression field, or a notification can be lost (§2.7.13.4.1). Our memory model
        // is sequential, but the barriers keep the order explicit for a model whose device runs on another thread.
        Interlocked.MemoryBarrier();
        WriteU16(Addresses.AvailableRing + AvailIdxOffset, _availIdx);
        _publishedIdx = _availIdx;
        Interlocked.MemoryBarrier();
        NeedsKick = EventIdx
            ? VirtqEventIndex.NeedsNotification(ReadU16(Addresses.UsedRing + (ulong)AvailEventOffset(QueueSize)), _availIdx, old)
            : (ReadU16(Addresses.UsedRing + UsedFlagsOffset) & VirtqRingFlags.UsedNoNotify) == 0;
    }

    /// <summary>
    /// Takes the next used entry: the chain's head and the bytes the device wrote. Frees the chain's descriptors and,
    /// with event idx, moves used_event to the next entry so the device interrupts for it (§2.7.7.1).
    /// </summary>
    public bool TryGetUsed(out ushort head, out uint length)
    {
        head = 0;
        length = 0;
        if (IsBroken) return false;
        ushort usedIdx = ReadU16(Addresses.UsedRing + UsedIdxOffset);
        if (usedIdx == _lastUsedIdx) return false;
        Interlocked.MemoryBarrier(); // read the element only after seeing idx move
        Span<byte> elem = stackalloc byte[UsedElementSize];
        _memory.Read(Addresses.UsedRing + (ulong)UsedElementOffset(_lastUsedIdx & (QueueSize - 1)), elem);
        uint id = BinaryPrimitives.ReadUInt32LittleEndian(elem);
        if (id >= (uint)QueueSize || _chainLength[id] == 0)
        {
            IsBroken = true;
            Log.DriverSawBadUsed(_log, id);
            return false;
        }
        head = (ushort)id;
        length = BinaryPrimitives.ReadUInt32LittleEndian(elem[4..]);
        FreeChain(head);
        _lastUsedIdx++;
        if (EventIdx) WriteU16(Addresses.AvailableRing + (ulong)UsedEventOffset(QueueSize), _lastUsedIdx);
        return true;
    }

    /// <summary>Sets VIRTQ_AVAIL_F_NO_INTERRUPT (only meaningful without event idx, §2.7.7.1).</summary>
    public void SetNoInterrupt(bool noInterrupt) =>
        WriteU16(Addresses.AvailableRing + AvailFlagsOffset, noInterrupt ? VirtqRingFlags.AvailNoInterrupt : (ushort)0);

    void FreeChain(ushort head)
    {
        int n = _chainLength[head];
        ushort last = head;
        for (int i = 1; i < n; i++) last = _next[last];
        _next[last] = FreeCount == 0 ? head : _freeHead;
        _freeHead = head;
        FreeCount += n;
        _chainLength[head] = 0;
    }

    ushort ReadU16(ulong gpa) => _memory.ReadU16(gpa);

    void WriteU16(ulong gpa, ushort value) => _memory.WriteU16(gpa, value);
}
