using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Fabric;
using static PcieVirt.Hypervisor.Virtio.SplitVirtqueueLayout;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>
/// A descriptor chain the device took from the available ring. Its segments live in the queue's scratch buffer and
/// stay valid until the next <see cref="VirtqueueDevice.TryPop"/>; copy what must outlive that.
/// </summary>
public readonly struct VirtqueueChain
{
    readonly VirtqSegment[]? _segments;

    internal VirtqueueChain(ushort head, VirtqSegment[] segments, int count, ulong readableBytes, ulong writableBytes)
    {
        Head = head;
        _segments = segments;
        SegmentCount = count;
        ReadableBytes = readableBytes;
        WritableBytes = writableBytes;
    }

    /// <summary>Index of the chain's first descriptor (what goes back in the used ring).</summary>
    public ushort Head { get; }
    public int SegmentCount { get; }

    /// <summary>The chain's buffers in order: device-readable ones first, then device-writable ones.</summary>
    public ReadOnlySpan<VirtqSegment> Segments => _segments.AsSpan(0, SegmentCount);

    /// <summary>Total bytes of the device-readable part.</summary>
    public ulong ReadableBytes { get; }

    /// <summary>Total bytes of the device-writable part.</summary>
    public ulong WritableBytes { get; }
}

/// <summary>
/// The device's half of one split virtqueue (VIRTIO 1.x §2.7), run by the host backend. Everything read from guest
/// memory is treated as hostile: an index out of range, a looping or over-long chain, a buffer outside guest memory,
/// a readable buffer after a writable one, a malformed indirect table — each marks the queue broken
/// (DEVICE_NEEDS_RESET, §2.1.2), is logged once, and stops the queue; nothing throws and nothing outside the rings
/// and the chains' writable buffers is written. Per-request calls allocate nothing.
/// </summary>
public sealed class VirtqueueDevice
{
    readonly IPhysicalMemory _memory;
    readonly ILogger _log;
    readonly VirtqSegment[] _segments;
    readonly bool[] _inFlight;
    readonly int _queueMask;
    ushort _lastAvailIdx;
    ushort _usedIdx;
    bool _kicksDisabledByFlag;

    /// <param name="guestMemory">The guest's physical memory, as the host maps it.</param>
    /// <param name="addresses">Where the driver put the rings (guest-controlled; checked here).</param>
    /// <param name="features">Negotiated features (<see cref="VirtioFeatures"/>).</param>
    /// <param name="maxChainLength">Longest chain accepted, in descriptors (§2.7.4.1 lets a device set a reasonable
    /// limit); 0 = the queue size, capped at 1024.</param>
    public VirtqueueDevice(IPhysicalMemory guestMemory, VirtqueueAddresses addresses, ulong features,
        int maxChainLength = 0, string name = "vq0", ILogger? logger = null)
    {
        _memory = guestMemory;
        _log = logger ?? NullLogger.Instance;
        Name = name;
        Addresses = addresses;
        EventIdx = (features & VirtioFeatures.EventIdx) != 0;
        IndirectDescriptors = (features & VirtioFeatures.IndirectDesc) != 0;
        string? problem = addresses.Validate(guestMemory);
        int qs = problem is null ? addresses.QueueSize : 1;
        _queueMask = qs - 1;
        MaxChainLength = maxChainLength > 0 ? Math.Min(maxChainLength, qs) : Math.Min(qs, 1024);
        _segments = new VirtqSegment[MaxChainLength];
        _inFlight = new bool[qs];
        if (problem is not null) MarkBroken(problem);
    }

    public string Name { get; }
    public VirtqueueAddresses Addresses { get; }
    public bool EventIdx { get; }
    public bool IndirectDescriptors { get; }

    /// <summary>Longest chain (descriptors, including those in an indirect table) accepted.</summary>
    public int MaxChainLength { get; }

    /// <summary>The queue saw a malformed structure and stopped; the device reports DEVICE_NEEDS_RESET.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>Why the queue broke (null while healthy).</summary>
    public string? BrokenReason { get; private set; }

    /// <summary>An interrupt is due for entries pushed since the last <see cref="TakeInterrupt"/>.</summary>
    public bool NeedsInterrupt { get; private set; }

    /// <summary>Chains taken from the available ring.</summary>
    public long ChainsPopped { get; private set; }

    /// <summary>Used entries written.</summary>
    public long ChainsUsed { get; private set; }

    /// <summary>Interrupts taken with <see cref="TakeInterrupt"/>.</summary>
    public long InterruptsSent { get; private set; }

    /// <summary>Used entries for which the driver's used_event (or NO_INTERRUPT flag) said no interrupt was wanted.</summary>
    public long InterruptsSuppressed { get; private set; }

    /// <summary>Chains popped but not yet pushed back.</summary>
    public int InFlight { get; private set; }

    /// <summary>
    /// Takes the next available chain and validates it. False when the ring is empty (after re-enabling driver
    /// notifications and checking once more, so a chain published meanwhile is not missed) or the queue is broken.
    /// </summary>
    public bool TryPop(out VirtqueueChain chain)
    {
        chain = default;
        if (IsBroken) return false;
        ushort availIdx = ReadU16(Addresses.AvailableRing + AvailIdxOffset);
        if (availIdx == _lastAvailIdx)
        {
            // Empty: ask for a kick at the next entry the driver publishes (§2.7.10.2), then look again, since the
            // driver may have published after our read but checked the old avail_event/flags.
            if (EventIdx) WriteU16(Addresses.UsedRing + (ulong)AvailEventOffset(Addresses.QueueSize), _lastAvailIdx);
            else if (_kicksDisabledByFlag)
            {
                WriteU16(Addresses.UsedRing + UsedFlagsOffset, 0);
                _kicksDisabledByFlag = false;
            }
            Interlocked.MemoryBarrier();
            availIdx = ReadU16(Addresses.AvailableRing + AvailIdxOffset);
            if (availIdx == _lastAvailIdx) return false;
        }
        int pending = (ushort)(availIdx - _lastAvailIdx);
        if (pending > Addresses.QueueSize)
            return MarkBroken($"available idx {availIdx} is {pending} entries ahead of {_lastAvailIdx}, more than the queue size");
        if (!EventIdx && !_kicksDisabledByFlag)
        {
            // Busy: no kicks needed until we drain the ring (§2.7.10.2, flag form).
            WriteU16(Addresses.UsedRing + UsedFlagsOffset, VirtqRingFlags.UsedNoNotify);
            _kicksDisabledByFlag = true;
        }
        Interlocked.MemoryBarrier(); // read the ring entry only after seeing idx move
        ushort head = ReadU16(Addresses.AvailableRing + (ulong)AvailRingEntryOffset(_lastAvailIdx & _queueMask));
        if (head >= Addresses.QueueSize)
            return MarkBroken($"available ring entry {_lastAvailIdx} names descriptor {head}, queue size is {Addresses.QueueSize}");
        if (_inFlight[head])
            return MarkBroken($"descriptor {head} made available again while the device still owns it");
        if (!WalkChain(head, out int count, out ulong readable, out ulong writable)) return false;
        _lastAvailIdx++;
        _inFlight[head] = true;
        InFlight++;
        ChainsPopped++;
        Log.ChainPopped(_log, Name, head, count);
        chain = new VirtqueueChain(head, _segments, count, readable, writable);
        return true;
    }

    /// <summary>
    /// Returns a chain to the driver: writes the used element, then the used idx (§2.7.8.2: len before idx), and
    /// decides whether the driver wants an interrupt for it (§2.7.7.2), accumulating into <see cref="NeedsInterrupt"/>.
    /// </summary>
    /// <param name="writtenLength">Bytes written into the chain's device-writable part.</param>
    /// <exception cref="ArgumentException">The head is not a chain this device popped (a backend bug, not guest input).</exception>
    public void Push(ushort head, uint writtenLength)
    {
        if (IsBroken) return;
        if (head >= _inFlight.Length || !_inFlight[head])
            throw new ArgumentException($"virtqueue {Name}: head {head} is not in flight", nameof(head));
        _inFlight[head] = false;
        InFlight--;
        Span<byte> elem = stackalloc byte[UsedElementSize];
        BinaryPrimitives.WriteUInt32LittleEndian(elem, head);
        BinaryPrimitives.WriteUInt32LittleEndian(elem[4..], writtenLength);
        _memory.Write(Addresses.UsedRing + (ulong)UsedElementOffset(_usedIdx & _queueMask), elem);
        Interlocked.MemoryBarrier();
        ushort old = _usedIdx;
        _usedIdx++;
        WriteU16(Addresses.UsedRing + UsedIdxOffset, _usedIdx);
        Interlocked.MemoryBarrier(); // idx visible before reading used_event, or an interrupt could be lost
        bool want = EventIdx
            ? VirtqEventIndex.NeedsNotification(ReadU16(Addresses.AvailableRing + (ulong)UsedEventOffset(Addresses.QueueSize)), _usedIdx, old)
            : (ReadU16(Addresses.AvailableRing + AvailFlagsOffset) & VirtqRingFlags.AvailNoInterrupt) == 0;
        ChainsUsed++;
        if (want) NeedsInterrupt = true;
        else InterruptsSuppressed++;
        Log.ChainUsed(_log, Name, head, writtenLength, want);
    }

    /// <summary>True (and clears <see cref="NeedsInterrupt"/>, counting it as sent) when an interrupt is due.</summary>
    public bool TakeInterrupt()
    {
        if (!NeedsInterrupt) return false;
        NeedsInterrupt = false;
        InterruptsSent++;
        return true;
    }

    /// <summary>Stops the queue: a guest structure was malformed. Logged once. Always returns false (for TryX callers).</summary>
    internal bool MarkBroken(string reason)
    {
        if (!IsBroken)
        {
            IsBroken = true;
            BrokenReason = reason;
            Log.QueueBroken(_log, Name, reason);
        }
        return false;
    }

    bool WalkChain(ushort head, out int count, out ulong readable, out ulong writable)
    {
        count = 0;
        readable = 0;
        writable = 0;
        ulong table = Addresses.DescriptorTable;
        int tableSize = Addresses.QueueSize;
        bool inIndirect = false;
        bool seenWritable = false;
        int index = head;
        // Every buffer descriptor visited counts, so a loop (in the main table or in an indirect one) ends as "too
        // long"; §2.7.5.3.1 bounds a chain, indirect part included, by the queue size. The indirect descriptor itself
        // is not counted, and there is at most one (no NEXT beside it, no nesting).
        Span<byte> d = stackalloc byte[DescriptorSize];
        while (true)
        {
            if (index >= tableSize)
                return MarkBroken($"chain at head {head}: descriptor index {index} out of range ({tableSize} entries{(inIndirect ? ", indirect" : "")})");
            if (!_memory.Read(table + (ulong)(index * DescriptorSize), d))
                return MarkBroken($"chain at head {head}: descriptor {index} is not readable guest memory");
            ulong addr = BinaryPrimitives.ReadUInt64LittleEndian(d[DescAddrOffset..]);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(d[DescLenOffset..]);
            var flags = (VirtqDescriptorFlags)BinaryPrimitives.ReadUInt16LittleEndian(d[DescFlagsOffset..]);
            ushort next = BinaryPrimitives.ReadUInt16LittleEndian(d[DescNextOffset..]);

            if ((flags & VirtqDescriptorFlags.Indirect) != 0)
            {
                // §2.7.5.3: one level only, never combined with NEXT, only when negotiated; the table holds whole descriptors.
                if (!IndirectDescriptors)
                    return MarkBroken($"chain at head {head}: INDIRECT descriptor but VIRTIO_F_INDIRECT_DESC was not negotiated");
                if (inIndirect)
                    return MarkBroken($"chain at head {head}: INDIRECT descriptor inside an indirect table");
                if ((flags & VirtqDescriptorFlags.Next) != 0)
                    return MarkBroken($"chain at head {head}: descriptor {index} has both INDIRECT and NEXT");
                if (len == 0 || len % DescriptorSize != 0)
                    return MarkBroken($"chain at head {head}: indirect table length {len} is not a non-zero multiple of 16");
                if (len / DescriptorSize > (uint)Addresses.QueueSize)
                    return MarkBroken($"chain at head {head}: indirect table of {len / DescriptorSize} descriptors exceeds the queue size");
                if (!_memory.Contains(addr, (int)len))
                    return MarkBroken($"chain at head {head}: indirect table 0x{addr:x}+{len} is outside guest memory");
                table = addr;
                tableSize = (int)(len / DescriptorSize);
                inIndirect = true;
                index = 0;
                continue;
            }

            bool isWritable = (flags & VirtqDescriptorFlags.Write) != 0;
            if (!isWritable && seenWritable)
                return MarkBroken($"chain at head {head}: device-readable descriptor after a device-writable one");
            if (len > int.MaxValue || !_memory.Contains(addr, (int)len))
                return MarkBroken($"chain at head {head}: buffer 0x{addr:x}+{len} is outside guest memory");
            if (isWritable) writable += len;
            else readable += len;
            if (readable + writable > uint.MaxValue)
                return MarkBroken($"chain at head {head}: total length exceeds 2^32 bytes");
            if (count == _segments.Length)
                return MarkBroken($"chain at head {head} is longer than {_segments.Length} descriptors (loop or too long)");
            seenWritable |= isWritable;
            _segments[count++] = new VirtqSegment(addr, len, isWritable);
            if ((flags & VirtqDescriptorFlags.Next) == 0) return true;
            index = next;
        }
    }

    ushort ReadU16(ulong gpa) => _memory.ReadU16(gpa);

    void WriteU16(ulong gpa, ushort value) => _memory.WriteU16(gpa, value);
}
