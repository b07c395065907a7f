using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>
/// A guest's virtio-blk driver over one request queue (VIRTIO 1.x §5.2.6): each request is a chain of the header
/// (device-readable), the data buffer (readable for OUT, writable for IN and GET_ID, absent for FLUSH) and the status
/// byte (writable). Headers and status bytes are preallocated per descriptor, so submitting and completing allocate
/// nothing. Usage: <see cref="TrySubmit"/> a batch, <see cref="PublishBatch"/>, kick when <see cref="KickNeeded"/>,
/// then <see cref="TryComplete"/> on interrupts.
/// </summary>
public sealed class VirtioBlkGuestDriver
{
    const int SlotSize = 32; // 16-byte header + status byte, padded
    const int StatusOffsetInSlot = VirtioBlkLayout.HeaderSize;

    readonly IPhysicalMemory _memory;
    readonly ulong _slots;
    readonly long[] _tokens;

    /// <summary>Sets up the queue and the per-descriptor header/status area in guest memory from <paramref name="allocator"/>.</summary>
    public VirtioBlkGuestDriver(HostMemoryAllocator allocator, int queueSize = 128, bool eventIdx = true, ILogger? logger = null)
    {
        Queue = new VirtqueueDriver(allocator, queueSize, eventIdx, logger);
        _memory = allocator.Memory;
        _slots = allocator.Allocate((ulong)(queueSize * SlotSize), 16);
        _tokens = new long[queueSize];
    }

    /// <summary>The request queue (its <see cref="VirtqueueDriver.Addresses"/> go to the device).</summary>
    public VirtqueueDriver Queue { get; }

    /// <summary>Features this driver uses (to hand to the device model as the negotiated set).</summary>
    public ulong Features => VirtioFeatures.Version1 | (Queue.EventIdx ? VirtioFeatures.EventIdx : 0);

    /// <summary>Requests submitted and not yet completed.</summary>
    public int InFlight { get; private set; }

    /// <summary>Whether the last <see cref="PublishBatch"/> requires a notification to the device.</summary>
    public bool KickNeeded => Queue.NeedsKick;

    /// <summary>
    /// Queues a request (visible to the device after <see cref="PublishBatch"/>). <paramref name="sector"/> is in
    /// 512-byte units; <paramref name="bufferGpa"/>/<paramref name="length"/> is the guest-physical data buffer (length 0
    /// for FLUSH). False when the queue has too few free descriptors.
    /// </summary>
    public bool TrySubmit(VirtioBlkRequestType type, ulong sector, ulong bufferGpa, int length, long token)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (type == VirtioBlkRequestType.Flush && length != 0)
            throw new ArgumentException("a flush carries no data", nameof(length));
        int needed = length == 0 ? 2 : 3;
        int head = Queue.NextHead;
        if (head < 0 || Queue.FreeCount < needed) return false;

        // The header and status live in the slot of the chain's head, which is unique among requests in flight.
        ulong slot = _slots + (ulong)(head * SlotSize);
        Span<byte> header = stackalloc byte[VirtioBlkLayout.HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header[VirtioBlkLayout.TypeOffset..], (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[VirtioBlkLayout.ReservedOffset..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(header[VirtioBlkLayout.SectorOffset..], sector);
        _memory.Write(slot, header);
        // A value no device writes, so a completion without a status write is visible.
        Span<byte> status = stackalloc byte[1];
        status[0] = 0xFF;
        _memory.Write(slot + StatusOffsetInSlot, status);

        var hdr = new VirtqBuffer(slot, VirtioBlkLayout.HeaderSize);
        var data = new VirtqBuffer(bufferGpa, (uint)length);
        var st = new VirtqBuffer(slot + StatusOffsetInSlot, 1);
        Span<VirtqBuffer> readable = stackalloc VirtqBuffer[2];
        Span<VirtqBuffer> writable = stackalloc VirtqBuffer[2];
        int r = 0, w = 0;
        readable[r++] = hdr;
        if (length > 0)
        {
            if (type == VirtioBlkRequestType.Out) readable[r++] = data;
            else writable[w++] = data;
        }
        writable[w++] = st;
        if (!Queue.TryAddChain(readable[..r], writable[..w], out ushort added)) return false;
        _tokens[added] = token;
        InFlight++;
        return true;
    }

    /// <summary>Makes the submitted batch visible to the device; returns whether it must be kicked (<see cref="KickNeeded"/>).</summary>
    public bool PublishBatch()
    {
        Queue.Publish();
        return Queue.NeedsKick;
    }

    /// <summary>Takes one completed request: the caller's token and the status byte the device wrote.</summary>
    public bool TryComplete(out long token, out byte status)
    {
        token = 0;
        status = 0;
        if (!Queue.TryGetUsed(out ushort head, out _)) return false;
        token = _tokens[head];
        Span<byte> b = stackalloc byte[1];
        _memory.Read(_slots + (ulong)(head * SlotSize) + StatusOffsetInSlot, b);
        status = b[0];
        InFlight--;
        return true;
    }
}
