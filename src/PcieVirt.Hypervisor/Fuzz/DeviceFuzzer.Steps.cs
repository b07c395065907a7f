using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Hypervisor.Fuzz;

// The step actions. Each draws everything it does from the one generator, so the sequence is a function of the seed.
public sealed partial class DeviceFuzzer
{
    const int PcieDevCtl = 0x08;
    const ushort InitiateFlrBit = 0x8000;
    static readonly byte[] s_ioOpcodes = [0x00, 0x01, 0x02, 0x04, 0x05, 0x08, 0x09, 0x0C, 0x0D, 0x0E, 0x11, 0x12, 0x15, 0x19, 0x7F, 0x80, 0xFF];

    void Execute(FuzzStepKind kind, FuzzLane l)
    {
        switch (kind)
        {
            case FuzzStepKind.ConfigRandom: ConfigRandom(l); break;
            case FuzzStepKind.ConfigStructured: ConfigStructured(l); break;
            case FuzzStepKind.MmioRegister: MmioRegister(l); break;
            case FuzzStepKind.Doorbell: Doorbell(l); break;
            case FuzzStepKind.MsixTable: MsixTable(l); break;
            case FuzzStepKind.MalformedSqe: MalformedSqe(l); break;
            case FuzzStepKind.PrpList: PrpList(l); break;
            case FuzzStepKind.Flr: Flr(l); break;
            case FuzzStepKind.VfToggle: VfToggle(); break;
            case FuzzStepKind.AdminCommand: AdminCommand(l); break;
            default: ValidIo(l); break;
        }
    }

    // ------------------------------------------------------------------ config space

    void CfgWrite(FuzzLane l, int offset, int width, uint value)
    {
        if (l.IsPf && _sriov.Offset != 0 && offset < _sriov.Offset + SriovControl + 2 && offset + width > _sriov.Offset + SriovControl)
        {
            // Never toggle ARI Capable Hierarchy: it moves every VF's routing ID, which is the OS's decision at enumeration.
            int shift = 8 * (_sriov.Offset + SriovControl - offset);
            uint ari = shift >= 0 ? (uint)SriovAri << shift : (uint)SriovAri >> -shift;
            uint current = _pf.Config.Read(offset, width);
            value = (value & ~ari) | (current & ari);
        }
        RootComplex.Write(l.Address, offset, width, value);
    }

    uint CfgRead(FuzzLane l, int offset, int width)
    {
        RootComplex.Read(l.Address, offset, width, out uint v);
        return v;
    }

    /// <summary>BARs, the expansion ROM and the PF's System Page Size / VF BARs move or resize functions: only probed and restored.</summary>
    bool Placement(FuzzLane l, int offset, int width)
    {
        if (offset < 0x28 && offset + width > 0x10) return true;
        if (offset < 0x34 && offset + width > 0x30) return true;
        if (l.IsPf && _sriov.Offset != 0)
        {
            int s = _sriov.Offset;
            if (offset < s + SriovVfBarEnd && offset + width > s + SriovSystemPageSize) return true;
        }
        return false;
    }

    void ConfigRandom(FuzzLane l)
    {
        if (FunctionOf(l) is null) return;
        int width = 1 << _rng.Below(3);
        int offset = _rng.Below(4096) & ~(width - 1);
        if (_rng.OneIn(4)) offset = _rng.Below(0x100) & ~(width - 1); // the header and capability list more often
        uint value = _rng.U32();
        if (Placement(l, offset, width)) return;
        CfgWrite(l, offset, width, value);
        AfterDisruption(l);
    }

    void ConfigStructured(FuzzLane l)
    {
        if (FunctionOf(l) is not { } f) return;
        int choice = _rng.Below(14);
        switch (choice)
        {
            case 0: // Command: realistic bit combinations, sometimes garbage in reserved bits
                uint cmd = (uint)(_rng.Pick<ushort>([0x0006, 0x0002, 0x0004, 0x0000, 0x0406, 0x0146, 0x0007]) | (_rng.OneIn(8) ? _rng.U32() & 0xF800 : 0));
                CfgWrite(l, PciRegs.Command, 2, cmd);
                break;
            case 1: // Status: clear every RW1C bit, or random
                CfgWrite(l, PciRegs.Status, 2, _rng.OneIn(2) ? 0xFFFF : _rng.U32() & 0xFFFF);
                break;
            case 2: // BAR / ROM sizing as firmware does it: all ones, read back, restore
                {
                    int bar = _rng.OneIn(7) ? 0x30 : 0x10 + 4 * _rng.Below(6);
                    uint old = CfgRead(l, bar, 4);
                    RootComplex.Write(l.Address, bar, 4, _rng.OneIn(4) ? _rng.U32() : 0xFFFF_FFFF);
                    CfgRead(l, bar, 4);
                    RootComplex.Write(l.Address, bar, 4, old);
                    break;
                }
            case 3: // read-only identification and layout registers
                {
                    int o = _rng.Pick<int>([0x00, 0x02, 0x08, 0x0E, 0x2C, 0x2E, 0x34, 0x3D, 0x3E]);
                    int w = o is 0x0E or 0x34 or 0x3D or 0x3E ? 1 : o == 0x08 ? 4 : 2;
                    CfgWrite(l, o, w, _rng.U32());
                    break;
                }
            case 4: // cache line size, latency timer, interrupt line
                CfgWrite(l, _rng.Pick<int>([0x0C, 0x0D, 0x3C]), 1, _rng.U32() & 0xFF);
                break;
            default:
                CapabilityWrite(l, f);
                break;
        }
        AfterDisruption(l);
    }

    void CapabilityWrite(FuzzLane l, PciFunction f)
    {
        var caps = f.Capabilities;
        if (caps.Count == 0) return;
        var cap = caps[_rng.Below(caps.Count)];
        int b = cap.Offset;
        switch (cap)
        {
            case MsixCapability:
                // Message Control: MSI-X Enable (bit 15) and Function Mask (bit 14); Table Size is read-only.
                CfgWrite(l, b + 2, 2, _rng.Pick<uint>([0x8000, 0xC000, 0x4000, 0x0000]) | (_rng.OneIn(4) ? _rng.U32() & 0x07FF : 0));
                if (_rng.OneIn(4)) CfgWrite(l, b + 4 + 4 * _rng.Below(2), 4, _rng.U32()); // Table / PBA offset (RO)
                break;
            case MsiCapability:
                CfgWrite(l, b + 2 * (1 + _rng.Below(8)), 2, _rng.U32() & 0xFFFF);
                break;
            case PciExpressCapability:
                switch (_rng.Below(5))
                {
                    case 0: CfgWrite(l, b + PcieDevCtl, 2, _rng.U32() & 0x7FFF); break; // everything but Initiate FLR
                    case 1: CfgWrite(l, b + 0x0A, 2, 0xFFFF); break; // Device Status RW1C
                    case 2: CfgWrite(l, b + 0x10, 2, _rng.U32() & 0xFFFF); break; // Link Control
                    case 3: CfgWrite(l, b + 0x28, 2, _rng.U32() & 0xFFFF); break; // Device Control 2
                    default: CfgWrite(l, b + 4 * _rng.Below(3), 4, _rng.U32()); break; // header, Device Capabilities (RO)
                }
                break;
            case PowerManagementCapability:
                // PMCSR: to D3hot and back, or a random value (PME Status RW1C, reserved states).
                if (_rng.OneIn(2)) { CfgWrite(l, b + 4, 2, 3); CfgWrite(l, b + 4, 2, 0); }
                else CfgWrite(l, b + 4, 2, _rng.U32() & 0xFFFF);
                break;
            case SriovCapability s:
                SriovWrite(l, s);
                break;
            default:
                {
                    // Anything else (AER, ACS, ARI, DSN…): a random naturally aligned write inside the capability.
                    int width = 1 << _rng.Below(3);
                    int o = b + (_rng.Below(Math.Max(cap.Length, 4)) & ~(width - 1));
                    if (o + width > ConfigSpace.Size || Placement(l, o, width)) return;
                    CfgWrite(l, o, width, _rng.OneIn(3) ? 0xFFFF_FFFF : _rng.U32());
                    break;
                }
        }
    }

    void SriovWrite(FuzzLane l, SriovCapability s)
    {
        int b = s.Offset;
        switch (_rng.Below(6))
        {
            case 0: // Control: VF Enable, VF MSE, migration bits
                CfgWrite(l, b + SriovControl, 2, _rng.U32() & 0x000F);
                break;
            case 1: // NumVFs (takes effect only while VF Enable is clear)
                CfgWrite(l, b + SriovNumVfs, 2, _rng.OneIn(2) ? (uint)_rng.Below(s.TotalVfs + 2) : _rng.U32() & 0xFFFF);
                break;
            case 2: // System Page Size: probe and restore
                {
                    uint old = CfgRead(l, b + SriovSystemPageSize, 4);
                    RootComplex.Write(l.Address, b + SriovSystemPageSize, 4, _rng.U32());
                    RootComplex.Write(l.Address, b + SriovSystemPageSize, 4, old);
                    break;
                }
            case 3: // a VF BAR: size it and restore it
                {
                    int o = b + SriovVfBar0 + 4 * _rng.Below(6);
                    uint old = CfgRead(l, o, 4);
                    RootComplex.Write(l.Address, o, 4, 0xFFFF_FFFF);
                    CfgRead(l, o, 4);
                    RootComplex.Write(l.Address, o, 4, old);
                    break;
                }
            case 4: // read-only fields: capabilities, Initial/TotalVFs, First VF Offset, VF Stride, VF Device ID, Supported Page Sizes
                {
                    int o = _rng.Pick<int>([0x04, 0x0C, 0x0E, 0x12, 0x14, 0x16, 0x1A, 0x1C, 0x3C]);
                    CfgWrite(l, b + o, o is 0x04 or 0x1C or 0x3C ? 4 : 2, _rng.U32());
                    break;
                }
            default: // Status (VF Migration Status RW1C)
                CfgWrite(l, b + 0x0A, 2, 0xFFFF);
                break;
        }
    }

    /// <summary>After a step that may have left the function unusable for its driver (or taken the VFs away), note it.</summary>
    void AfterDisruption(FuzzLane l)
    {
        if (l.IsPf && _vfsUp) VfStateIntact();
        if (!l.Dirty && !Healthy(l)) l.Dirty = true;
    }

    // ------------------------------------------------------------------ MMIO: registers, doorbells, MSI-X table

    ulong Bar0(FuzzLane l) => l.Bus?.BarAddress(0) ?? 0;

    void Mmio(ulong address, int length, ulong value)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], ~value);
        RootComplex.MemoryWrite(address, b[..length]);
    }

    void MmioRegister(FuzzLane l)
    {
        if (FunctionOf(l) is null || Bar0(l) is var bar && bar == 0) return;
        int r = _rng.Below(12);
        int offset;
        int width = 4;
        ulong value = _rng.Next();
        switch (r)
        {
            case 0: // CC: enable/disable, shutdown, page size and entry sizes
                offset = NvmeRegisters.Cc;
                value = _rng.OneIn(2) ? (value & 0x00FF_FFF1) : (l.ExpectedCc & ~1u) | (value & 1);
                break;
            case 1: offset = NvmeRegisters.Aqa; break;
            case 2: offset = NvmeRegisters.Asq; width = 8; break;
            case 3: offset = NvmeRegisters.Acq; width = 8; break;
            case 4: offset = _rng.Pick<int>([NvmeRegisters.Cap, NvmeRegisters.Cap + 4, NvmeRegisters.Vs, NvmeRegisters.Csts]); break; // read-only (CSTS.NSSRO is RW1C)
            case 5: offset = _rng.Pick<int>([NvmeRegisters.Intms, NvmeRegisters.Intmc]); break;
            case 6: offset = NvmeRegisters.Nssr; value = _rng.OneIn(2) ? 0x4E56_4D65 : value; break; // "NVMe": subsystem reset when supported
            case 7: // a read of anything, anywhere in the BAR (and just past it)
                {
                    Span<byte> b = stackalloc byte[8];
                    int len = 1 << _rng.Below(4);
                    RootComplex.MemoryRead(bar + (ulong)_rng.Below(0x10000 + 64), b[..len]);
                    return;
                }
            default: // random offset below the doorbells, random width, possibly misaligned
                offset = _rng.Below(0x1000);
                width = _rng.Pick<int>([1, 2, 3, 4, 8, 16]);
                break;
        }
        Mmio(bar + (ulong)offset, width, value);
        AfterDisruption(l);
    }

    void Doorbell(FuzzLane l)
    {
        if (FunctionOf(l) is null || l.Driver is not { } d || Bar0(l) is var bar && bar == 0) return;
        int dstrd = (int)NvmeRegisters.CapFields.Dstrd.Get(d.Cap);
        var fq = l.FuzzQueue;
        int qid;
        bool cq = _rng.OneIn(2);
        uint value;
        int width = 4;
        switch (_rng.Below(5))
        {
            case 0 or 1 when fq != null: // the fuzzer's own queue: any value, in range or not
                qid = fq.Qid;
                value = _rng.OneIn(2) ? (uint)_rng.Below(fq.SqEntries) : _rng.U32() & (_rng.OneIn(2) ? 0xFFFFu : 0xFFFF_FFFFu);
                break;
            case 2: // the admin queue or the driver's I/O queue: only values out of range (the NVMe spec's invalid doorbell write)
                qid = _rng.Below(2);
                value = (uint)(qid == 0 ? d.AdminQueue!.SqEntries : d.IoQueues[0].SqEntries) + (uint)_rng.Below(0x10000);
                break;
            case 3: // queues that do not exist
                qid = 3 + _rng.Below(64);
                value = _rng.U32() & 0xFFFF;
                break;
            default: // sub-dword and misaligned doorbell accesses on the fuzzer's queue or a missing one
                qid = fq != null && _rng.OneIn(2) ? fq.Qid : 3 + _rng.Below(8);
                value = _rng.U32();
                width = _rng.Pick<int>([1, 2, 8]);
                break;
        }
        ulong at = bar + (ulong)NvmeRegisters.DoorbellOffset(qid, cq, dstrd);
        if (width != 4 && _rng.OneIn(2)) at += (ulong)_rng.Below(4);
        Mmio(at, width, value);
        DrainFuzzQueue(l);
        AfterDisruption(l);
    }

    void MsixTable(FuzzLane l)
    {
        if (FunctionOf(l) is not { } f || f.FindCapability<MsixCapability>() is not { } msix) return;
        ulong bar = l.Bus?.BarAddress(msix.TableBar) ?? 0;
        if (bar == 0) return;
        int entry = _rng.Below(msix.TableSize + 2); // sometimes just past the table
        ulong e = bar + msix.TableOffset + 16UL * (ulong)entry;
        switch (_rng.Below(6))
        {
            case 0 or 1: // the message address: interrupt range, or memory inside/outside the domain
                {
                    ulong target = _rng.OneIn(2) ? InterruptController.MsiBase + (ulong)(_rng.Below(0x100000) & ~3) : DmaTarget(l, msiSafe: true);
                    Mmio(e, 4, (uint)target);
                    Mmio(e + 4, 4, (uint)(target >> 32));
                    break;
                }
            case 2: Mmio(e + 8, 4, _rng.U32()); break; // message data
            case 3: Mmio(e + 12, 4, _rng.OneIn(2) ? 1u : _rng.U32()); break; // vector control: mask, or reserved bits
            case 4: Mmio(e + 12, 4, 0); break; // unmask: a pending message goes out now
            default: // the PBA (read-only) or an odd-width write into the table
                if (_rng.OneIn(2)) Mmio((l.Bus?.BarAddress(msix.PbaBar) ?? bar) + msix.PbaOffset + 8UL * (ulong)_rng.Below(3), 8, _rng.Next());
                else Mmio(e + (ulong)_rng.Below(16), _rng.Pick<int>([1, 2, 3, 8]), _rng.Next());
                break;
        }
        AfterDisruption(l);
    }

    // ------------------------------------------------------------------ DMA targets

    /// <summary>
    /// An address for a bogus PRP or MSI-X message. A VF may be pointed anywhere — its domain must refuse what is
    /// not its own (its scratch area is the only mapped target); the PF is pass-through, so it is pointed only at
    /// its scratch, past the end of RAM, or into MMIO apertures (which the root complex refuses).
    /// </summary>
    ulong DmaTarget(FuzzLane l, bool msiSafe = false)
    {
        ulong t = RawTarget(l, msiSafe);
        // Mostly page aligned (what a PRP entry must be, so the request gets as far as the DMA), sometimes dword aligned, rarely raw.
        return _rng.Below(8) switch { 0 => t, 1 or 2 => t & ~3UL, _ => t & ~0xFFFUL };
    }

    ulong RawTarget(FuzzLane l, bool msiSafe)
    {
        ulong scratch = l.ScratchBase + (ulong)_rng.Below((int)l.ScratchSize - 4096);
        if (l.IsPf)
            return _rng.Below(4) switch
            {
                0 or 1 => scratch & ~3UL,
                2 => _ramTop + ((ulong)_rng.Below(1 << 20) << 12) + (ulong)_rng.Below(4096),
                _ => (1UL << 52) + (_rng.Next() & 0xFFFF_FFFF_F000),
            };
        return _rng.Below(10) switch
        {
            0 or 1 => scratch,
            2 => _sentinels[_rng.Below(_sentinels.Count)].Address + (ulong)_rng.Below(SentinelSize),
            3 => _lanes[_rng.Below(_lanes.Count)].RegionBase + ScratchSize + (ulong)_rng.Below((int)(RegionSize - ScratchSize)), // another function's (or its own) driver area
            4 => l.RegionBase + l.RegionSize - 8 + (ulong)_rng.Below(16), // across the end of its domain
            5 => msiSafe ? scratch : InterruptController.MsiBase + (ulong)_rng.Below(0x100000),
            6 => (ulong)_rng.Below(1 << 24),
            7 => _ramTop + (ulong)_rng.Below(1 << 30),
            _ => _rng.Next(),
        };
    }

    // ------------------------------------------------------------------ the fuzzer's own queue: malformed entries and PRP lists

    void MalformedSqe(FuzzLane l)
    {
        if (!Ready(l, out var d, out var q)) return;
        var s = new NvmeSubmission
        {
            Opcode = _rng.OneIn(4) ? (byte)_rng.Below(256) : _rng.Pick<byte>(s_ioOpcodes),
            Flags = _rng.OneIn(4) ? (byte)_rng.Below(256) : (byte)0,
            Nsid = _rng.Below(6) switch { 0 => 0, 1 => 0xFFFF_FFFF, 2 => _rng.U32(), 3 => (uint)_rng.Below(8), _ => l.Nsid },
            Prp1 = DmaTarget(l),
            Prp2 = _rng.OneIn(2) ? DmaTarget(l) : 0,
            Cdw10 = _rng.U32(), Cdw11 = _rng.OneIn(2) ? 0 : _rng.U32(),
            Cdw12 = _rng.OneIn(2) ? (uint)_rng.Below(64) : _rng.U32(),
            Cdw13 = _rng.U32(), Cdw14 = _rng.U32(), Cdw15 = _rng.U32(),
        };
        ulong slot = q.SqBase + (ulong)(q.SqTail * NvmeCommand.Size);
        Sanitize(l, ref s);
        d.Enqueue(q, s);
        if (_rng.OneIn(3))
        {
            // Reserved dwords 2-3 and the metadata pointer (dwords 4-5) get garbage too.
            Span<byte> raw = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64LittleEndian(raw, _rng.Next());
            BinaryPrimitives.WriteUInt64LittleEndian(raw[8..], _rng.Next());
            RootComplex.HostMemory.Write(slot + 8, raw);
        }
        d.RingSqDoorbell(q);
        _result.FuzzCommands++;
        DrainFuzzQueue(l);
        AfterDisruption(l);
    }

    /// <summary>
    /// Keeps the fuzzer's data-modifying commands out of every function's acknowledged slots: on the lane's own
    /// namespace (or all namespaces) the starting LBA is moved above them, and DSM/Copy range lists are written
    /// by the fuzzer. Other namespaces are left as drawn: they are not attached, and a write there must fail.
    /// </summary>
    void Sanitize(FuzzLane l, ref NvmeSubmission s)
    {
        if (s.Nsid != l.Nsid && s.Nsid != 0xFFFF_FFFF) return;
        ulong fuzzBase = l.FuzzLbaBase == 0 ? 1UL << 20 : l.FuzzLbaBase;
        ulong lba = fuzzBase + (((ulong)s.Cdw11 << 32 | s.Cdw10) % (1UL << 16));
        if (_rng.OneIn(8)) lba = ulong.MaxValue - (ulong)_rng.Below(4); // past the end: must be LBA Out of Range
        s.Cdw10 = (uint)lba;
        s.Cdw11 = (uint)(lba >> 32);
        if (s.Opcode is NvmeIoOpcode.DatasetManagement or 0x19)
        {
            // Range lists (16 or 32 bytes per entry) in the scratch area, every range in the fuzz LBAs.
            ulong list = l.ScratchBase + 4096UL * (ulong)_rng.Below(8);
            Span<byte> entry = stackalloc byte[32];
            for (int i = 0; i < 16; i++)
            {
                entry.Clear();
                ulong start = fuzzBase + (ulong)_rng.Below(1 << 16);
                BinaryPrimitives.WriteUInt32LittleEndian(entry[4..], (uint)_rng.Below(256)); // DSM: length in blocks
                BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], start);                // DSM: starting LBA; Copy: SLBA
                BinaryPrimitives.WriteUInt16LittleEndian(entry[16..], (ushort)_rng.Below(256)); // Copy: NLB
                RootComplex.HostMemory.Write(list + 32UL * (ulong)i, entry);
            }
            s.Prp1 = list;
            s.Prp2 = 0;
        }
    }

    void PrpList(FuzzLane l)
    {
        if (!Ready(l, out var d, out var q)) return;
        int bs = l.BlockSize == 0 ? 512 : l.BlockSize;
        int pages = 2 + _rng.Below(24);
        int blocks = Math.Max(1, pages * 4096 / bs - (_rng.OneIn(2) ? _rng.Below(4) : 0));
        // PRP1 may carry an offset (and be misaligned, which the controller must refuse: PRP offsets are dword aligned).
        ulong prp1 = l.ScratchBase + 4096UL * (ulong)_rng.Below(16) + (_rng.OneIn(3) ? (ulong)_rng.Below(4096) : 0);
        // The list in scratch, with entries in scratch, out of domain, misaligned, or chaining to another list page.
        ulong list = l.ScratchBase + 4096UL * (ulong)(16 + _rng.Below(32));
        if (_rng.OneIn(6)) list += (ulong)(_rng.Below(512) * 8); // list pointer with an offset (allowed when dword aligned)
        if (_rng.OneIn(10)) list |= 4; // misaligned list pointer
        int entries = Math.Min(512, pages + 2);
        Span<byte> e = stackalloc byte[8];
        for (int i = 0; i < entries; i++)
        {
            ulong v = _rng.Below(6) switch
            {
                0 => DmaTarget(l),
                1 when i == 511 || _rng.OneIn(4) => l.ScratchBase + 4096UL * (ulong)(16 + _rng.Below(32)), // a chain pointer
                2 => (l.ScratchBase + 4096UL * (ulong)_rng.Below(48)) | (ulong)(uint)(_rng.Below(4096) & ~3),
                _ => l.ScratchBase + 4096UL * (ulong)_rng.Below(48),
            };
            BinaryPrimitives.WriteUInt64LittleEndian(e, v);
            ulong at = (list & ~3UL) + 8UL * (ulong)i;
            if (at + 8 <= l.ScratchBase + l.ScratchSize) RootComplex.HostMemory.Write(at, e);
        }
        ulong fuzzBase = l.FuzzLbaBase == 0 ? 1UL << 20 : l.FuzzLbaBase;
        ulong lba = fuzzBase + (ulong)_rng.Below(1 << 16);
        var s = new NvmeSubmission
        {
            Opcode = _rng.OneIn(2) ? NvmeIoOpcode.Read : NvmeIoOpcode.Write,
            Nsid = l.Nsid == 0 ? 1 : l.Nsid,
            Prp1 = prp1, Prp2 = pages == 2 && _rng.OneIn(2) ? DmaTarget(l) : list,
            Cdw10 = (uint)lba, Cdw11 = (uint)(lba >> 32), Cdw12 = (uint)(blocks - 1),
        };
        d.Submit(q, s);
        _result.FuzzCommands++;
        DrainFuzzQueue(l);
        AfterDisruption(l);
    }

    bool Ready(FuzzLane l, out NvmeDriver d, out NvmeQueuePair q)
    {
        d = null!;
        q = null!;
        if (l.Dirty && !EnsureUp(l)) return false;
        if (l.Driver is not { } driver || l.FuzzQueue is not { } fq) return false;
        d = driver;
        q = fq;
        return true;
    }

    void DrainFuzzQueue(FuzzLane l)
    {
        if (l.Driver is not { } d || l.FuzzQueue is not { } q) return;
        for (int i = 0; i < q.CqEntries + 1 && d.TryReap(q, out var c); i++)
        {
            if (!c.Status.IsSuccess) _result.FuzzCommandErrors++;
            int key = (int)c.Status.Type << 8 | c.Status.Code;
            _result.Statuses[key] = _result.Statuses.GetValueOrDefault(key) + 1;
        }
    }

    static readonly byte[] s_adminOpcodes = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x10, 0x11, 0x14, 0x15, 0x18, 0x19, 0x1C, 0x80, 0x81, 0x84, 0xC0, 0xFF];

    void AdminCommand(FuzzLane l)
    {
        if (!Ready(l, out var d, out _)) return;
        byte opcode = _rng.OneIn(5) ? (byte)_rng.Below(256) : _rng.Pick<byte>(s_adminOpcodes);
        // The PF is the host's own: the commands by which it legitimately changes other functions (namespace
        // attachment and management, format, virtualization management, per-VF QoS) are not fuzzed there. A VF
        // tries all of them; none may reach beyond it. An Asynchronous Event Request stays outstanding by
        // design, which would only stall the driver.
        if (opcode == NvmeAdminOpcode.AsynchronousEventRequest || l.IsPf && opcode is 0x0D or 0x15 or 0x1C or 0x80 or 0x84 or 0xC0) opcode = NvmeAdminOpcode.Identify;
        var s = new NvmeSubmission
        {
            Opcode = opcode,
            Flags = _rng.OneIn(6) ? (byte)_rng.Below(256) : (byte)0,
            Nsid = _rng.Below(5) switch { 0 => 0, 1 => 0xFFFF_FFFF, 2 => _rng.U32(), 3 => (uint)_rng.Below(8), _ => l.Nsid },
            Prp1 = DmaTarget(l), Prp2 = _rng.OneIn(2) ? DmaTarget(l) : 0,
            Cdw10 = _rng.OneIn(2) ? (uint)_rng.Below(0x20) | (uint)_rng.Below(8) << 8 | (uint)_rng.Below(70) << 16 : _rng.U32(),
            Cdw11 = _rng.OneIn(2) ? (uint)_rng.Below(8) : _rng.U32(),
            Cdw12 = _rng.U32(), Cdw13 = _rng.U32(), Cdw14 = _rng.U32(), Cdw15 = _rng.U32(),
        };
        _result.FuzzCommands++;
        try
        {
            var c = d.ExecuteAdmin(s);
            if (!c.Status.IsSuccess) _result.FuzzCommandErrors++;
            int key = (int)c.Status.Type << 8 | c.Status.Code;
            _result.Statuses[key] = _result.Statuses.GetValueOrDefault(key) + 1;
        }
        catch (NvmeDriverException)
        {
            l.Dirty = true;
        }
        AfterDisruption(l);
    }

    // ------------------------------------------------------------------ resets and VF enable

    void InitiateFlr(FuzzLane l)
    {
        if (FunctionOf(l) is not { } f || f.FindCapability<PciExpressCapability>() is not { } pcie) return;
        if (ControllerOf(f)!.CommandsInFlight > 0) _result.ResetsWithCommandsInFlight++;
        uint ctl = CfgRead(l, pcie.Offset + PcieDevCtl, 2);
        RootComplex.Write(l.Address, pcie.Offset + PcieDevCtl, 2, ctl | InitiateFlrBit);
        l.Dirty = true;
        l.Quiesced = true;
        if (l.IsPf)
        {
            _global = true;
            RestorePlacement();
            VfStateIntact();
        }
    }

    void Flr(FuzzLane l)
    {
        // Often with work on the fuzzer's queue: rung (in timed mode those commands are in flight when the reset
        // hits, and none may complete or DMA afterwards) or only written (submitted but never fetched).
        if (!_rng.OneIn(3) && !l.Dirty && l.Driver is { } d && l.FuzzQueue is { } q)
        {
            int n = 1 + _rng.Below(4);
            for (int i = 0; i < n; i++)
                d.Enqueue(q, new NvmeSubmission
                {
                    Opcode = _rng.OneIn(2) ? NvmeIoOpcode.Read : NvmeIoOpcode.Write, Nsid = l.Nsid,
                    Prp1 = l.ScratchBase + 4096UL * (ulong)_rng.Below(8), Cdw10 = (uint)(l.FuzzLbaBase + (ulong)_rng.Below(1 << 16)),
                });
            if (!_rng.OneIn(4)) d.RingSqDoorbell(q);
        }
        InitiateFlr(l);
    }

    void VfToggle()
    {
        _global = true;
        foreach (var vf in _lanes)
            if (!vf.IsPf && FunctionOf(vf) is { } f && ControllerOf(f)!.CommandsInFlight > 0) _result.ResetsWithCommandsInFlight++;
        var pf = _lanes[0];
        int cap = _sriov.Offset;
        switch (_rng.Below(4))
        {
            case 0: // the OS disables SR-IOV
                Host.Os.DisableVfs(pf.Address);
                break;
            case 1: // raw: clear VF Enable behind the OS's back
                CfgWrite(pf, cap + SriovControl, 2, CfgRead(pf, cap + SriovControl, 2) & ~(uint)SriovVfEnable);
                break;
            case 2: // raw: change NumVFs while enabled (must not take effect), then toggle VF MSE
                CfgWrite(pf, cap + SriovNumVfs, 2, (uint)_rng.Below(_sriov.TotalVfs + 1));
                CfgWrite(pf, cap + SriovControl, 2, CfgRead(pf, cap + SriovControl, 2) ^ SriovVfMse);
                break;
            default: // the OS (re-)enables them
                EnableVfs();
                return;
        }
        VfStateIntact();
    }

    // ------------------------------------------------------------------ valid I/O and acknowledged data

    void ValidIo(FuzzLane l)
    {
        if (!EnsureUp(l)) return;
        if (l.Driver is not { } d || l.Nsid == 0 || !d.Namespaces.ContainsKey(l.Nsid)) return;
        int bs = l.BlockSize;
        int max = Math.Max(1, Math.Min(8, _io.Length / bs));
        int n = 1 + _rng.Below(max);
        int slot = _rng.Below(FuzzLane.Slots - n + 1);
        bool write = _rng.Below(5) < 2;
        var span = _io.AsSpan(0, n * bs);
        if (write)
        {
            ulong tag = _rng.Next() | 1;
            NvmeWorkload.FillPattern(tag, l.Lba(slot), bs, span);
            RootComplex.HostMemory.Write(l.DataBuffer, span);
            for (int i = 0; i < n; i++) l.Tags[slot + i] = 0; // unknown until acknowledged
            var c = Io(l, d, NvmeIoOpcode.Write, slot, n);
            if (c is { Status.IsSuccess: true })
            {
                for (int i = 0; i < n; i++) l.Tags[slot + i] = tag;
                _result.BlocksWritten += n;
            }
            return;
        }
        var r = Io(l, d, NvmeIoOpcode.Read, slot, n);
        if (r is not { Status.IsSuccess: true }) return;
        RootComplex.HostMemory.Read(l.DataBuffer, span);
        for (int i = 0; i < n; i++)
        {
            ulong tag = l.Tags[slot + i];
            if (tag == 0) continue;
            var expect = _expect.AsSpan(0, bs);
            NvmeWorkload.FillPattern(tag, l.Lba(slot + i), bs, expect);
            var got = span.Slice(i * bs, bs);
            _result.BlocksVerified++;
            if (got.SequenceEqual(expect)) continue;
            int at = got.CommonPrefixLength(expect);
            Violation(FuzzInvariant.AcknowledgedData,
                $"{l.Name}: namespace {l.Nsid} LBA {l.Lba(slot + i)} byte {at} reads 0x{got[at]:x2}, acknowledged 0x{expect[at]:x2}");
            l.Tags[slot + i] = 0; // reported once
        }
    }

    NvmeCompletion? Io(FuzzLane l, NvmeDriver d, byte opcode, int slot, int n)
    {
        try
        {
            return opcode == NvmeIoOpcode.Write ? d.Write(l.Nsid, l.Lba(slot), n, l.DataBuffer) : d.Read(l.Nsid, l.Lba(slot), n, l.DataBuffer);
        }
        catch (NvmeDriverException)
        {
            // The function is in a state its driver cannot use (fatal status, queue gone): it starts over next time.
            l.Dirty = true;
            return null;
        }
    }

    /// <summary>
    /// Bits left out of the fixed read-only snapshot: SR-IOV registers whose writability follows VF Enable
    /// (Control, NumVFs, System Page Size and the VF BARs are RW only while VFs are disabled, §9.3.3.3/.7/.13/.14)
    /// and First VF Offset / VF Stride, which the device recomputes when NumVFs changes (§9.3.3.9-10).
    /// </summary>
    /// <para>Also the status the hardware itself reports, which no requester write may change but the device may:
    /// Status.Interrupt Status (§7.5.1.1.4), MSI Pending Bits (§7.7.1.8), PCIe Device Status.Transactions Pending
    /// and Link Status (§7.5.3.5, §7.5.3.8), AER First Error Pointer and Header Log (§7.8.4.7-8).</para>
    byte DeviceOwned(FuzzLane l, PciFunction f, int offset)
    {
        if (offset == PciRegs.Status) return 1 << 3;
        foreach (var cap in f.Capabilities)
        {
            int r = offset - cap.Offset;
            if (r < 0 || r >= Math.Max(cap.Length, 4)) continue;
            switch (cap)
            {
                case MsiCapability:
                    uint control = f.Config.Read16(cap.Offset + 2);
                    int pending = (control & 0x80) != 0 ? 0x14 : 0x10;
                    return (control & 0x100) != 0 && r >= pending && r < pending + 4 ? (byte)0xFF : (byte)0;
                case PciExpressCapability:
                    return r == 0x0A ? (byte)(1 << 5) : r is 0x12 or 0x13 ? (byte)0xFF : (byte)0;
                case AerCapability:
                    return r == 0x18 ? (byte)0x1F : r is >= 0x1C and < 0x2C ? (byte)0xFF : (byte)0;
                case SriovCapability:
                    return r is (>= SriovControl and < SriovControl + 2) or (>= SriovNumVfs and < SriovNumVfs + 8) or (>= SriovSystemPageSize and < SriovVfBarEnd)
                        ? (byte)0xFF : (byte)0;
            }
        }
        return 0;
    }

    /// <summary>
    /// The PF's placement registers as the OS assigned them (BARs, ROM, SR-IOV System Page Size and VF BARs):
    /// an FLR returns them to zero, and the OS restores them afterwards (as Linux's pci_reset_function does).
    /// </summary>
    readonly List<(int Offset, uint Value)> _pfPlacement = [];

    void SavePlacement()
    {
        _pfPlacement.Clear();
        for (int o = 0x10; o < 0x28; o += 4) _pfPlacement.Add((o, _pf.Config.Read32(o)));
        _pfPlacement.Add((0x30, _pf.Config.Read32(0x30)));
        if (_sriov.Offset != 0)
            for (int o = _sriov.Offset + SriovSystemPageSize; o < _sriov.Offset + SriovVfBarEnd; o += 4) _pfPlacement.Add((o, _pf.Config.Read32(o)));
    }

    void RestorePlacement()
    {
        foreach (var (o, v) in _pfPlacement)
            if (_pf.Config.Read32(o) != v) RootComplex.Write(_lanes[0].Address, o, 4, v);
    }
}
