using System.Buffers.Binary;
using System.Numerics;

namespace PcieVirt.Devices.Nvme;

// Identify (NVMe Base 1.4 §5, Identify command): the data structures by CNS value.
public sealed partial class NvmeController
{
    void Identify(in NvmeCommand cmd)
    {
        byte cns = (byte)cmd.Cdw10;
        ushort cntid = (ushort)(cmd.Cdw10 >> 16);
        uint nsid = cmd.Nsid;
        var d = ScratchBuffer.AsSpan(0, 4096);
        d.Clear();
        bool managesNamespaces = !IsSecondary;
        switch (cns)
        {
            case NvmeIdentifyCns.Namespace:
                if (nsid == 0xFFFF_FFFF && managesNamespaces) { FillCommonNamespace(d); break; }
                if (!ValidNsid(nsid)) return;
                if (Active(nsid) is { } active) FillNamespace(d, active); // an inactive NSID reads as zeros
                break;
            case NvmeIdentifyCns.Controller:
                FillController(d);
                break;
            case NvmeIdentifyCns.ActiveNamespaceList:
                if (nsid >= 0xFFFF_FFFE) { Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID 0x{nsid:x} cannot start a list", 4); return; }
                FillNsidList(d, nsid, activeOnly: true);
                break;
            case NvmeIdentifyCns.NamespaceIdentificationDescriptors:
                if (!ValidNsid(nsid)) return;
                if (Active(nsid) is not { } described) { Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID {nsid} is not active on this controller", 4); return; }
                // One descriptor: NIDT 02h (NGUID), NIDL 16; the list ends with a zero header.
                d[0] = 2;
                d[1] = 16;
                for (int i = 0; i < 16; i++) d[4 + i] = described.Nguid[i];
                break;
            case NvmeIdentifyCns.AllocatedNamespaceList when managesNamespaces:
                if (nsid >= 0xFFFF_FFFE) { Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID 0x{nsid:x} cannot start a list", 4); return; }
                FillNsidList(d, nsid, activeOnly: false);
                break;
            case NvmeIdentifyCns.AllocatedNamespace when managesNamespaces:
                if (!ValidNsid(nsid)) return;
                if (Subsystem.FindNamespace(nsid) is { } allocated) FillNamespace(d, allocated);
                break;
            case NvmeIdentifyCns.NamespaceAttachedControllers when managesNamespaces:
                if (!ValidNsid(nsid)) return;
                if (Subsystem.FindNamespace(nsid) is not { } ns) { Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID {nsid} is not allocated", 4); return; }
                FillControllerList(d, ns.AttachedControllers, cntid);
                break;
            case NvmeIdentifyCns.SubsystemControllers when managesNamespaces:
                FillControllerList(d, Subsystem.ControllerIds, cntid);
                break;
            case NvmeIdentifyCns.PrimaryControllerCapabilities when IsPrimary:
                if (cntid != ControllerId) { Fail(NvmeStatus.InvalidFieldInCommand, $"CNTID {cntid} is not this primary controller", 42); return; }
                FillPrimaryCapabilities(d);
                break;
            case NvmeIdentifyCns.SecondaryControllerList when IsPrimary:
                FillSecondaryList(d, cntid);
                break;
            default:
                Fail(NvmeStatus.InvalidFieldInCommand, $"CNS 0x{cns:x2} is not supported by this controller", 40);
                return;
        }
        if (SendToHost(cmd, d)) _result.Bytes = d.Length;
    }

    bool ValidNsid(uint nsid)
    {
        if (nsid != 0 && nsid <= Subsystem.MaxNamespaces) return true;
        Fail(NvmeStatus.InvalidNamespaceOrFormat, $"NSID 0x{nsid:x} is not a valid namespace ID (1..{Subsystem.MaxNamespaces})", 4);
        return false;
    }

    void FillController(Span<byte> d)
    {
        var f = _function;
        // VID: the PCI Vendor ID software sees (a VF's own register reads FFFFh; it presents its PF's).
        ushort vid = f is PcieVirt.Pci.Functions.VirtualFunction vf ? vf.PresentedVendorId : f?.Identity.VendorId ?? 0;
        BinaryPrimitives.WriteUInt16LittleEndian(d, vid);
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], f?.Identity.SubsystemVendorId ?? 0); // SSVID
        WriteAscii(d.Slice(4, 20), _o.SerialNumber); // SN
        WriteAscii(d.Slice(24, 40), _o.ModelNumber); // MN
        WriteAscii(d.Slice(64, 8), _o.FirmwareRevision); // FR
        d[73] = (byte)_o.IeeeOui; // IEEE OUI, least significant byte first
        d[74] = (byte)(_o.IeeeOui >> 8);
        d[75] = (byte)(_o.IeeeOui >> 16);
        // CMIC: bit 0 the subsystem may have several PCIe ports; bit 1 it may hold several controllers;
        // bit 2 this controller belongs to an SR-IOV VF.
        d[76] = (byte)((_o.MultiplePorts ? 0b001 : 0) | (IsPrimary || IsSecondary || _o.MultiplePorts ? 0b010 : 0)
            | (IsSecondary && _o.VirtualFunctionNumber != 0 ? 0b100 : 0));
        d[77] = (byte)_o.MaxDataTransferExponent; // MDTS in units of CAP.MPSMIN
        BinaryPrimitives.WriteUInt16LittleEndian(d[78..], ControllerId); // CNTLID
        BinaryPrimitives.WriteUInt32LittleEndian(d[80..], _o.Version); // VER
        BinaryPrimitives.WriteUInt32LittleEndian(d[92..], 1u << 8); // OAES: Namespace Attribute Notices
        d[111] = 1; // CNTRLTYPE: I/O controller
        // OACS: bit 3 Namespace Management/Attachment (not on a secondary), bit 7 Virtualization Management (primary).
        BinaryPrimitives.WriteUInt16LittleEndian(d[256..], (ushort)((IsSecondary ? 0 : 1 << 3) | (IsPrimary ? 1 << 7 : 0)));
        d[258] = (byte)(_o.AbortCommandLimit - 1); // ACL
        d[259] = (byte)(_o.AsyncEventRequestLimit - 1); // AERL
        d[260] = 0b0011; // FRMW: one slot, slot 1 read-only
        d[261] = 1 << 2; // LPA: extended Get Log Page data (NUMDU, LPO)
        d[262] = (byte)(_o.ErrorLogEntries - 1); // ELPE
        d[263] = 0; // NPSS: one power state
        BinaryPrimitives.WriteUInt16LittleEndian(d[266..], WarningTemperatureK); // WCTEMP
        BinaryPrimitives.WriteUInt16LittleEndian(d[268..], CriticalTemperatureK); // CCTEMP
        if (!IsSecondary)
        {
            ulong total = 0;
            foreach (var ns in Subsystem.Namespaces) total += ns.Backend.BlockCount * (ulong)ns.Backend.BlockSize;
            BinaryPrimitives.WriteUInt64LittleEndian(d[280..], total); // TNVMCAP (low 64 of 128 bits)
        }
        d[512] = 0x66; // SQES: required and maximum 2^6
        d[513] = 0x44; // CQES: required and maximum 2^4
        BinaryPrimitives.WriteUInt32LittleEndian(d[516..], Subsystem.MaxNamespaces); // NN
        BinaryPrimitives.WriteUInt16LittleEndian(d[520..], (1 << 2) | (1 << 3)); // ONCS: Dataset Management, Write Zeroes
        // VWC: bit 0 present; bits 2:1 = 11b Flush with NSID FFFFFFFFh supported.
        d[525] = _o.VolatileWriteCache ? (byte)0b111 : (byte)0;
        d[530] = 1; // NVSCC: vendor specific commands use the standard format
        var nqn = d.Slice(768, 256);
        for (int i = 0; i < Subsystem.Nqn.Length; i++) nqn[i] = (byte)Subsystem.Nqn[i]; // SUBNQN, NUL padded
        BinaryPrimitives.WriteUInt16LittleEndian(d[2048..], 2500); // PSD0 MP: 25.00 W
    }

    static void FillNamespace(Span<byte> d, NvmeNamespace ns)
    {
        ulong blocks = ns.Backend.BlockCount;
        BinaryPrimitives.WriteUInt64LittleEndian(d, blocks); // NSZE
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], blocks); // NCAP
        BinaryPrimitives.WriteUInt64LittleEndian(d[16..], blocks); // NUSE (not thin provisioned)
        d[24] = 0; // NSFEAT
        d[25] = 0; // NLBAF: one format
        d[26] = 0; // FLBAS: format 0, no metadata
        d[30] = ns.Shareable ? (byte)1 : (byte)0; // NMIC
        d[33] = 0b1001; // DLFEAT: deallocated blocks read zeros; Write Zeroes honours DEAC
        BinaryPrimitives.WriteUInt64LittleEndian(d[48..], blocks * (ulong)ns.Backend.BlockSize); // NVMCAP (low 64 bits)
        for (int i = 0; i < 16; i++) d[104 + i] = ns.Nguid[i]; // NGUID
        d[128 + 2] = (byte)BitOperations.Log2((uint)ns.Backend.BlockSize); // LBAF0: LBADS, MS = 0, RP = 0
    }

    static void FillCommonNamespace(Span<byte> d)
    {
        // Capabilities shared by all namespaces (NSID FFFFFFFFh): the formats, no size.
        d[25] = 1; // two formats
        d[128 + 2] = 9; // LBAF0: 512 B
        d[132 + 2] = 12; // LBAF1: 4 KiB
    }

    void FillNsidList(Span<byte> d, uint after, bool activeOnly)
    {
        int n = 0;
        foreach (var ns in Subsystem.Namespaces)
        {
            if (ns.Nsid <= after || (activeOnly && Active(ns.Nsid) == null)) continue;
            if (n == 1024) break;
            BinaryPrimitives.WriteUInt32LittleEndian(d[(4 * n++)..], ns.Nsid);
        }
    }

    static void FillControllerList(Span<byte> d, IEnumerable<ushort> ids, ushort from)
    {
        int n = 0;
        foreach (var id in ids)
        {
            if (id < from) continue;
            if (n == 2047) break;
            BinaryPrimitives.WriteUInt16LittleEndian(d[(2 + 2 * n++)..], id);
        }
        BinaryPrimitives.WriteUInt16LittleEndian(d, (ushort)n);
    }
}
