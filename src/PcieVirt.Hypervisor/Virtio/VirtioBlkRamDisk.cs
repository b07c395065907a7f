using PcieVirt.Fabric;

namespace PcieVirt.Hypervisor.Virtio;

/// <summary>
/// A backend that keeps the disk in host RAM and completes every request at once (reads and writes copy between
/// the disk and the guest's buffers; flush has nothing to do). For tests and for the functional path of the
/// hypervisor; a timed backend completes later instead.
/// </summary>
public sealed class VirtioBlkRamDisk : IVirtioBlkBackend
{
    readonly IPhysicalMemory _guestMemory;
    readonly byte[] _disk;

    public VirtioBlkRamDisk(IPhysicalMemory guestMemory, int capacitySectors)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacitySectors);
        _guestMemory = guestMemory;
        _disk = new byte[(long)capacitySectors * VirtioBlkLayout.SectorSize];
        CapacitySectors = (ulong)capacitySectors;
    }

    public ulong CapacitySectors { get; }

    /// <summary>The disk's bytes (for inspection in tests).</summary>
    public Span<byte> Contents => _disk;

    /// <summary>Flushes received.</summary>
    public long Flushes { get; private set; }

    /// <inheritdoc/>
    public void Submit(VirtioBlkDevice device, VirtioBlkRequest request)
    {
        byte status = VirtioBlkStatus.Ok;
        bool transfers = request.Type is VirtioBlkRequestType.In or VirtioBlkRequestType.Out;
        // The device checked against its own capacity; a disk smaller than that fails the request rather than the host.
        if (transfers && (request.Sector > CapacitySectors
            || request.DataLength > _disk.LongLength - (long)request.Sector * VirtioBlkLayout.SectorSize))
        {
            device.Complete(request, VirtioBlkStatus.IoErr);
            return;
        }
        long offset = transfers ? (long)request.Sector * VirtioBlkLayout.SectorSize : 0;
        switch (request.Type)
        {
            case VirtioBlkRequestType.In:
                foreach (var s in request.DataSegments)
                {
                    if (!_guestMemory.Write(s.Gpa, _disk.AsSpan((int)offset, (int)s.Length))) status = VirtioBlkStatus.IoErr;
                    offset += s.Length;
                }
                break;
            case VirtioBlkRequestType.Out:
                foreach (var s in request.DataSegments)
                {
                    if (!_guestMemory.Read(s.Gpa, _disk.AsSpan((int)offset, (int)s.Length))) status = VirtioBlkStatus.IoErr;
                    offset += s.Length;
                }
                break;
            case VirtioBlkRequestType.Flush:
                Flushes++;
                break;
            default:
                status = VirtioBlkStatus.Unsupported;
                break;
        }
        device.Complete(request, status);
    }
}
