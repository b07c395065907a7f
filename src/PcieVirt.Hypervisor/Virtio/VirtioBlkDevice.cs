using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>
/// A parsed virtio-blk request handed to the backend. One instance per descriptor head, reused; valid until the
/// backend calls <see cref="VirtioBlkDevice.Complete"/>.
/// </summary>
public sealed class VirtioBlkRequest
{
    internal readonly VirtqSegment[] DataBuffer;

    internal VirtioBlkRequest(ushort head, int maxSegments)
    {
        Head = head;
        DataBuffer = new VirtqSegment[maxSegments];
    }

    /// <summary>The chain's head descriptor (identifies the request in the used ring).</summary>
    public ushort Head { get; }
    public VirtioBlkRequestType Type { get; internal set; }

    /// <summary>First sector, in 512-byte units.</summary>
    public ulong Sector { get; internal set; }

    /// <summary>The data buffers in guest memory (header and status byte excluded).</summary>
    public ReadOnlySpan<VirtqSegment> DataSegments => DataBuffer.AsSpan(0, DataSegmentCount);
    public int DataSegmentCount { get; internal set; }

    /// <summary>Total data bytes.</summary>
    public long DataLength { get; internal set; }

    /// <summary>Guest-physical address of the status byte.</summary>
    public ulong StatusGpa { get; internal set; }
}

/// <summary>Where a virtio-blk device sends its reads, writes and flushes (the host backend: a file, a RAID volume…).</summary>
public interface IVirtioBlkBackend
{
    /// <summary>
    /// Starts <paramref name="request"/> (IN, OUT or FLUSH; range already checked against capacity). The backend moves
    /// the data between its store and <see cref="VirtioBlkRequest.DataSegments"/> and calls
    /// <see cref="VirtioBlkDevice.Complete"/>, now or later.
    /// </summary>
    void Submit(VirtioBlkDevice device, VirtioBlkRequest request);
}

/// <summary>
/// The host side of a virtio-blk device with one request queue (VIRTIO 1.x §5.2): takes chains from the queue on a
/// kick, parses them into requests, checks them (capacity → IOERR, unknown type → UNSUPP), passes reads, writes
/// and flushes to the backend, answers GET_ID itself, and on completion writes the status byte, returns the chain
/// and injects an interrupt unless the driver suppressed it. Malformed chains break the queue (DEVICE_NEEDS_RESET).
/// </summary>
public sealed class VirtioBlkDevice
{
    readonly IPhysicalMemory _memory;
    readonly IVirtioBlkBackend _backend;
    readonly Action? _interrupt;
    readonly ILogger _log;
    readonly VirtioBlkRequest?[] _requests;
    readonly byte[] _serialBytes = new byte[VirtioBlkLayout.IdBytes];

    /// <param name="guestMemory">The guest's physical memory as the host maps it.</param>
    /// <param name="queue">The request queue's addresses as the driver programmed them.</param>
    /// <param name="features">Negotiated features.</param>
    /// <param name="capacitySectors">Capacity in 512-byte sectors (the config space's <c>capacity</c>).</param>
    /// <param name="serial">GET_ID string: up to 20 ASCII bytes.</param>
    /// <param name="interrupt">Injects the queue's interrupt into the guest (MSI-X vector or INTx).</param>
    public VirtioBlkDevice(IPhysicalMemory guestMemory, VirtqueueAddresses queue, ulong features, ulong capacitySectors,
        string serial, IVirtioBlkBackend backend, Action? interrupt = null, ILogger? logger = null)
    {
        _memory = guestMemory;
        _backend = backend;
        _interrupt = interrupt;
        _log = logger ?? NullLogger.Instance;
        CapacitySectors = capacitySectors;
        Serial = serial;
        Encoding.ASCII.GetBytes(serial.AsSpan(0, Math.Min(serial.Length, VirtioBlkLayout.IdBytes)), _serialBytes);
        Queue = new VirtqueueDevice(guestMemory, queue, features, name: "virtio-blk.rq0", logger: logger);
        _requests = new VirtioBlkRequest?[Math.Max(1, SplitVirtqueueLayout.IsValidQueueSize(queue.QueueSize) ? queue.QueueSize : 1)];
    }

    public VirtqueueDevice Queue { get; }
    public ulong CapacitySectors { get; }
    public string Serial { get; }

    /// <summary>The status bits this model owns: DEVICE_NEEDS_RESET once the queue broke (§2.1.2).</summary>
    public VirtioDeviceStatus Status => Queue.IsBroken ? VirtioDeviceStatus.DeviceNeedsReset : VirtioDeviceStatus.None;

    /// <summary>Requests parsed (including those failed with IOERR/UNSUPP).</summary>
    public long Requests { get; private set; }

    /// <summary>Available-buffer notifications received.</summary>
    public long KicksSeen { get; private set; }

    /// <summary>Interrupts injected.</summary>
    public long InterruptsSent => Queue.InterruptsSent;

    /// <summary>Completions for which the driver's suppression meant no interrupt.</summary>
    public long InterruptsSuppressed => Queue.InterruptsSuppressed;

    /// <summary>The driver's kick (a write to the queue-notify register): processes everything available.</summary>
    public int OnKick()
    {
        KicksSeen++;
        return ProcessAvailable();
    }

    /// <summary>Takes and starts every available request (a polling backend may call this without a kick). Returns how many.</summary>
    public int ProcessAvailable()
    {
        int n = 0;
        while (Queue.TryPop(out VirtqueueChain chain))
        {
            n++;
            Handle(chain);
        }
        return n;
    }

    /// <summary>
    /// Finishes <paramref name="request"/>: writes <paramref name="status"/> to its status byte, returns the chain
    /// to the used ring and injects the interrupt if one is due.
    /// </summary>
    public void Complete(VirtioBlkRequest request, byte status)
    {
        // Used length counts bytes written into the writable part: the data of a successful read, plus the status byte.
        uint written = 1;
        if (status == VirtioBlkStatus.Ok && request.Type == VirtioBlkRequestType.In) written += (uint)request.DataLength;
        Finish(request, status, written);
    }

    void Finish(VirtioBlkRequest request, byte status, uint written)
    {
        // After DEVICE_NEEDS_RESET the driver may assume nothing about in-flight requests (§2.1.1); we touch no more guest memory.
        if (Queue.IsBroken) return;
        Span<byte> b = stackalloc byte[1];
        b[0] = status;
        _memory.Write(request.StatusGpa, b);
        Queue.Push(request.Head, written);
        if (Queue.TakeInterrupt()) _interrupt?.Invoke();
    }

    void Handle(in VirtqueueChain chain)
    {
        // Framing (§2.7.4): the device must not assume how the driver split the request into descriptors, so the
        // header is the first 16 readable bytes wherever they lie, and the status is the last writable byte.
        if (chain.ReadableBytes < VirtioBlkLayout.HeaderSize)
        {
            Queue.MarkBroken($"virtio-blk head {chain.Head}: {chain.ReadableBytes} device-readable bytes, the header needs {VirtioBlkLayout.HeaderSize}");
            return;
        }
        if (chain.WritableBytes < 1)
        {
            Queue.MarkBroken($"virtio-blk head {chain.Head}: no device-writable byte for the status");
            return;
        }
        ReadOnlySpan<VirtqSegment> segs = chain.Segments;
        Span<byte> header = stackalloc byte[VirtioBlkLayout.HeaderSize];
        Gather(segs, header);
        var type = (VirtioBlkRequestType)BinaryPrimitives.ReadUInt32LittleEndian(header[VirtioBlkLayout.TypeOffset..]);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[VirtioBlkLayout.SectorOffset..]);

        var req = _requests[chain.Head] ??= new VirtioBlkRequest(chain.Head, Queue.MaxChainLength);
        req.Type = type;
        req.Sector = sector;
        ulong readData = chain.ReadableBytes - VirtioBlkLayout.HeaderSize;
        ulong writeData = chain.WritableBytes - 1;
        Requests++;
        Log.BlkRequest(_log, chain.Head, (uint)type, sector, (long)(readData + writeData));

        // Data direction must match the type: the device may not write device-readable memory (§2.7.5.1).
        bool deviceWrites = type is VirtioBlkRequestType.In or VirtioBlkRequestType.GetId;
        if (deviceWrites && readData != 0)
        {
            Queue.MarkBroken($"virtio-blk head {chain.Head}: {type} has {readData} device-readable data bytes where the device must write");
            return;
        }
        if (type == VirtioBlkRequestType.Out && writeData != 0)
        {
            Queue.MarkBroken($"virtio-blk head {chain.Head}: OUT has {writeData} device-writable data bytes where the device must read");
            return;
        }
        CollectData(segs, req, skipReadable: VirtioBlkLayout.HeaderSize, dropWritableTail: 1);

        switch (type)
        {
            case VirtioBlkRequestType.In:
            case VirtioBlkRequestType.Out:
                if (req.DataLength % VirtioBlkLayout.SectorSize != 0)
                {
                    Fail(req, VirtioBlkStatus.IoErr, "data length is not a multiple of 512");
                    return;
                }
                ulong sectors = (ulong)req.DataLength / VirtioBlkLayout.SectorSize;
                if (sector > CapacitySectors || sectors > CapacitySectors - sector)
                {
                    Fail(req, VirtioBlkStatus.IoErr, "beyond capacity");
                    return;
                }
                _backend.Submit(this, req);
                return;
            case VirtioBlkRequestType.Flush:
                _backend.Submit(this, req);
                return;
            case VirtioBlkRequestType.GetId:
                Finish(req, VirtioBlkStatus.Ok, 1 + WriteSerial(req));
                return;
            default:
                Fail(req, VirtioBlkStatus.Unsupported, "unknown request type");
                return;
        }
    }

    void Fail(VirtioBlkRequest req, byte status, string reason)
    {
        Log.BlkRequestFailed(_log, req.Head, status, reason);
        Finish(req, status, 1);
    }

    uint WriteSerial(VirtioBlkRequest req)
    {
        // 20 bytes, NUL-padded when the serial is shorter; a shorter buffer gets what fits.
        int total = (int)Math.Min(req.DataLength, VirtioBlkLayout.IdBytes);
        ReadOnlySpan<byte> id = _serialBytes;
        int done = 0;
        foreach (var s in req.DataSegments)
        {
            if (done == total) break;
            int n = (int)Math.Min(s.Length, (uint)(total - done));
            _memory.Write(s.Gpa, id.Slice(done, n));
            done += n;
        }
        return (uint)done;
    }

    void Gather(ReadOnlySpan<VirtqSegment> segs, Span<byte> into)
    {
        int done = 0;
        foreach (var s in segs)
        {
            if (done == into.Length || s.Writable) break;
            int n = (int)Math.Min(s.Length, (uint)(into.Length - done));
            _memory.Read(s.Gpa, into.Slice(done, n));
            done += n;
        }
    }

    static void CollectData(ReadOnlySpan<VirtqSegment> segs, VirtioBlkRequest req, int skipReadable, int dropWritableTail)
    {
        // Writable bytes before the final status byte, readable bytes after the header: the data.
        ulong writableTotal = 0;
        foreach (var s in segs) if (s.Writable) writableTotal += s.Length;
        ulong writableData = writableTotal - (ulong)dropWritableTail;
        ulong skip = (ulong)skipReadable;
        ulong writableSeen = 0;
        int count = 0;
        long length = 0;
        foreach (var s in segs)
        {
            ulong start = 0, end = s.Length;
            if (!s.Writable)
            {
                ulong cut = Math.Min(skip, end);
                skip -= cut;
                start = cut;
            }
            else
            {
                ulong room = writableData > writableSeen ? writableData - writableSeen : 0;
                writableSeen += s.Length;
                end = Math.Min(end, room);
            }
            if (end <= start) continue;
            req.DataBuffer[count++] = new VirtqSegment(s.Gpa + start, (uint)(end - start), s.Writable);
            length += (long)(end - start);
        }
        req.DataSegmentCount = count;
        req.DataLength = length;
        req.StatusGpa = StatusAddress(segs, dropWritableTail);
    }

    static ulong StatusAddress(ReadOnlySpan<VirtqSegment> segs, int tail)
    {
        for (int i = segs.Length - 1; i >= 0; i--)
            if (segs[i].Writable && segs[i].Length >= (uint)tail) return segs[i].Gpa + segs[i].Length - (ulong)tail;
        return 0; // unreachable: the caller checked there is a writable byte
    }
}
