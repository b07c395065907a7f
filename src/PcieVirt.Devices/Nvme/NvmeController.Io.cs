using System.Buffers.Binary;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Devices.Nvme;

// NVM command set I/O commands (NVMe Base 1.4 §6): Read, Write, Flush, Write Zeroes, Dataset Management.
public sealed partial class NvmeController
{
    const uint ForceUnitAccess = 1u << 30;

    void ExecuteIo(in NvmeCommand cmd, ushort sqId)
    {
        _result.ServiceNs = 0;
        if (cmd.Fuse != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "fused operations are not supported", 1); return; }
        byte opcode = cmd.Opcode;
        if (opcode is not (NvmeIoOpcode.Read or NvmeIoOpcode.Write or NvmeIoOpcode.Flush or NvmeIoOpcode.WriteZeroes or NvmeIoOpcode.DatasetManagement))
        {
            Fail(NvmeStatus.InvalidCommandOpcode, "opcode is not an NVM command this controller supports", 0);
            return;
        }
        if (opcode == NvmeIoOpcode.Flush && cmd.Nsid == 0xFFFF_FFFF)
        {
            FlushAll();
            return;
        }
        // Every NVM command names one namespace that must be active (attached) on this controller.
        uint nsid = cmd.Nsid;
        if (nsid == 0 || nsid > Subsystem.MaxNamespaces || Active(nsid) is not { } ns)
        {
            Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID {nsid} is not an active namespace of this controller", 4);
            return;
        }
        switch (opcode)
        {
            case NvmeIoOpcode.Read: ReadWrite(cmd, ns, sqId, write: false); break;
            case NvmeIoOpcode.Write: ReadWrite(cmd, ns, sqId, write: true); break;
            case NvmeIoOpcode.Flush: FlushNamespace(ns); break;
            case NvmeIoOpcode.WriteZeroes: WriteZeroes(cmd, ns); break;
            case NvmeIoOpcode.DatasetManagement: DatasetManagement(cmd, ns); break;
        }
    }

    /// <summary>Checks that [slba, slba + blocks) lies in the namespace (LBA Out of Range otherwise).</summary>
    bool CheckRange(NvmeNamespace ns, ulong slba, ulong blocks)
    {
        _result.Lba = slba;
        ulong size = ns.Backend.BlockCount;
        if (slba < size && blocks <= size - slba) return true;
        Fail(NvmeStatus.LbaOutOfRange, $"LBAs {slba}+{blocks} exceed the namespace's {size} blocks", 40);
        return false;
    }

    void ReadWrite(in NvmeCommand cmd, NvmeNamespace ns, ushort sqId, bool write)
    {
        ulong slba = cmd.StartingLba;
        int blocks = (int)(cmd.Cdw12 & 0xFFFF) + 1;
        var backend = ns.Backend;
        if (!CheckRange(ns, slba, (ulong)blocks)) return;
        long bytes = (long)blocks * backend.BlockSize;
        if (bytes > MaxTransferBytes) { Fail(NvmeStatus.InvalidFieldInCommand, $"{bytes} bytes exceed MDTS ({MaxTransferBytes})", 48); return; }
        if (cmd.Psdt != 0) { Fail(NvmeStatus.InvalidFieldInCommand, "SGL data pointers are not supported (PSDT must be 00b)", 1, 6); return; }
        var buffer = DataBuffer.AsSpan(0, (int)bytes);
        if (!MapPrps(cmd.Prp1, cmd.Prp2, buffer.Length)) return;
        if (backend is IAsyncNamespaceBackend async)
        {
            StartAsync(async, cmd, _sqs[sqId], slba, blocks, write, !_writeCacheEnabled || (cmd.Cdw12 & ForceUnitAccess) != 0);
            return;
        }
        NvmeBackendResult r;
        if (!TryDirectTransfer(ns, slba, write, out r))
        {
            if (!_result.Status.IsSuccess) return;
            if (write)
            {
                if (!CopyFromHost(buffer)) return;
                r = backend.Write(slba, buffer);
            }
            else
            {
                r = backend.Read(slba, buffer);
                if (r.Status.IsSuccess && !CopyToHost(buffer)) return;
            }
        }
        // Without the volatile cache, or with Force Unit Access, written data must be durable before completion.
        if (write && r.Status.IsSuccess && (!_writeCacheEnabled || (cmd.Cdw12 & ForceUnitAccess) != 0))
        {
            var f = backend.Flush();
            r = new NvmeBackendResult(f.Status, r.ServiceTimeNs + f.ServiceTimeNs);
        }
        _result.ServiceNs = r.ServiceTimeNs;
        _busyNs += r.ServiceTimeNs;
        if (!r.Status.IsSuccess) { Fail(r.Status, write ? "backend write failed" : "backend read failed"); return; }
        _result.Bytes = buffer.Length;
        ulong units = (ulong)bytes / 512;
        if (write) { _hostWrites++; _written512 += units; }
        else { _hostReads++; _read512 += units; }
    }

    /// <summary>
    /// The data of a transfer that is one memory request (one mapped segment inside one 4 KiB page) goes
    /// between the backend and host RAM in place when the fabric grants the zero-copy seam
    /// (<see cref="PcieVirt.Pci.Functions.IUpstreamPort.MapForWrite"/>): the TLP is still routed, checked,
    /// translated by the IOMMU and traced, only the staging copy through <see cref="DataBuffer"/> goes.
    /// False with a success status: not eligible, use the copying path. False with a failure status:
    /// the DMA failed (the command's status is set as the copying path would set it).
    /// </summary>
    bool TryDirectTransfer(NvmeNamespace ns, ulong slba, bool write, out NvmeBackendResult r)
    {
        r = default;
        if (_segCount != 1) return false;
        ulong address = _segAddress[0];
        int n = _segLength[0];
        if ((address & 4095) + (ulong)n > 4096) return false;
        var f = _function;
        if (f?.Upstream is not { } up) return false;
        var backend = ns.Backend;
        if (write)
        {
            if (!f.BusMasterEnabled) { Fail(NvmeStatus.DataTransferError, $"DMA read of {n} bytes from 0x{address:x} not completed"); return false; }
            switch (up.MapForRead(f.Bdf, address, n, out var source))
            {
                case DmaMapStatus.Unavailable: return false;
                case DmaMapStatus.Failed:
                    Fail(NvmeStatus.DataTransferError, $"DMA read of {n} bytes from 0x{address:x} not completed");
                    return false;
            }
            _dmaReadRequests++;
            _dmaReadBytes += n;
            r = backend.Write(slba, source);
            return true;
        }
        // A read: the copying path reads the media first and then fails the DMA, so a failed mapping
        // still reads the media (same service time and media status), the data going to the staging buffer.
        Span<byte> destination = default;
        DmaMapStatus status = f.BusMasterEnabled ? up.MapForWrite(f.Bdf, address, n, out destination) : DmaMapStatus.Failed;
        if (status == DmaMapStatus.Unavailable) return false;
        if (status == DmaMapStatus.Failed)
        {
            r = backend.Read(slba, DataBuffer.AsSpan(0, n));
            _result.ServiceNs = r.ServiceTimeNs;
            _busyNs += r.ServiceTimeNs;
            if (!r.Status.IsSuccess) Fail(r.Status, "backend read failed");
            else Fail(NvmeStatus.DataTransferError, $"DMA write of {n} bytes to 0x{address:x} not completed");
            return false;
        }
        _dmaWriteBytes += n;
        r = backend.Read(slba, destination);
        return true;
    }

    void FlushNamespace(NvmeNamespace ns)
    {
        // Without a volatile cache (or with it disabled) every write is already durable: nothing to do.
        if (!_writeCacheEnabled) return;
        var r = ns.Backend.Flush();
        _result.ServiceNs = r.ServiceTimeNs;
        if (!r.Status.IsSuccess) Fail(r.Status, "backend flush failed");
    }

    void FlushAll()
    {
        // NSID FFFFFFFFh flushes every attached namespace (VWC bits 2:1 = 11b).
        if (!_writeCacheEnabled) return;
        foreach (var ns in _active)
        {
            if (ns == null) continue;
            var r = ns.Backend.Flush();
            _result.ServiceNs += r.ServiceTimeNs;
            if (!r.Status.IsSuccess) { Fail(r.Status, $"backend flush of namespace {ns.Nsid} failed"); return; }
        }
    }

    void WriteZeroes(in NvmeCommand cmd, NvmeNamespace ns)
    {
        ulong slba = cmd.StartingLba, blocks = (cmd.Cdw12 & 0xFFFF) + 1UL;
        if (!CheckRange(ns, slba, blocks)) return;
        var r = ns.Backend.WriteZeroes(slba, blocks);
        if (r.Status.IsSuccess && (!_writeCacheEnabled || (cmd.Cdw12 & ForceUnitAccess) != 0))
        {
            var f = ns.Backend.Flush();
            r = new NvmeBackendResult(f.Status, r.ServiceTimeNs + f.ServiceTimeNs);
        }
        _result.ServiceNs = r.ServiceTimeNs;
        if (!r.Status.IsSuccess) Fail(r.Status, "backend write zeroes failed");
    }

    void DatasetManagement(in NvmeCommand cmd, NvmeNamespace ns)
    {
        int ranges = (int)(cmd.Cdw10 & 0xFF) + 1;
        bool deallocate = (cmd.Cdw11 & 0b100) != 0;
        var list = ScratchBuffer.AsSpan(0, 16 * ranges);
        if (!ReceiveFromHost(cmd, list)) return;
        // Check every range before acting on any, so a bad range leaves the namespace untouched.
        for (int i = 0; i < ranges; i++)
        {
            var e = list.Slice(16 * i, 16);
            if (!CheckRange(ns, BinaryPrimitives.ReadUInt64LittleEndian(e[8..]), BinaryPrimitives.ReadUInt32LittleEndian(e[4..]))) return;
        }
        if (!deallocate) return; // Integral Dataset for Read/Write are hints: nothing to do
        for (int i = 0; i < ranges; i++)
        {
            var e = list.Slice(16 * i, 16);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
            if (length == 0) continue;
            var r = ns.Backend.Deallocate(BinaryPrimitives.ReadUInt64LittleEndian(e[8..]), length);
            _result.ServiceNs += r.ServiceTimeNs;
            if (!r.Status.IsSuccess) { Fail(r.Status, "backend deallocate failed"); return; }
        }
    }
}
