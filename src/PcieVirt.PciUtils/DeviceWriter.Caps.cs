namespace PcieVirt.PciUtils;

/// <summary>The capability list (legacy part) as lspci 3.9.0 prints it.</summary>
internal sealed partial class DeviceWriter
{
    const int TypeEndpoint = 0, TypeLegacyEndpoint = 1, TypeRootPort = 4, TypeUpstream = 5, TypeDownstream = 6,
        TypePciBridge = 7, TypePcieBridge = 8, TypeRootIntEp = 9, TypeRootEc = 10;

    void ShowCaps(int pointerReg)
    {
        bool canHaveExt = false;
        if ((_c.Status & 0x10) != 0)
        {
            var seen = new bool[256];
            int where = _c.U8(pointerReg) & ~3;
            while (where != 0)
            {
                P("\tCapabilities: ");
                if (!_c.Has(where, 4))
                {
                    P("<access denied>\n");
                    break;
                }
                int id = _c.U8(where), next = _c.U8(where + 1) & ~3;
                uint cap = _c.U16(where + 2);
                P($"[{X((uint)where, 2)}] ");
                if (seen[where])
                {
                    P("<chain looped>\n");
                    break;
                }
                seen[where] = true;
                if (id == 0xFF)
                {
                    P("<chain broken>\n");
                    break;
                }
                switch (id)
                {
                    case 0x00: P("Null\n"); break;
                    case 0x01: CapPm(where, cap); break;
                    case 0x02: P($"AGP version {X((cap >> 4) & 0xF, 0)}.{X(cap & 0xF, 0)}\n"); break;
                    case 0x03:
                        // VPD contents need the VPD address/flag protocol; like lspci on a dump, report it unreadable.
                        P("Vital Product Data\n");
                        if (Verbose > 1) P("\t\tNot readable\n");
                        break;
                    case 0x04: P($"Slot ID: {cap & 0x1F} slots, First{F(cap, 0x20)}, chassis {X(cap >> 8, 2)}\n"); break;
                    case 0x05: CapMsi(where, cap); break;
                    case 0x06: P("CompactPCI hot-swap <?>\n"); break;
                    case 0x07:
                        P(_c.HeaderLayout == 1 ? "PCI-X bridge device\n" : "PCI-X non-bridge device\n");
                        canHaveExt = true;
                        break;
                    case 0x09: P($"Vendor Specific Information: Len={X((cap) & 0xFF, 2)} <?>\n"); break;
                    case 0x0A: P($"Debug port: BAR={cap >> 13} offset={X(cap & 0x1FFF, 4)}\n"); break;
                    case 0x0B: P("CompactPCI central resource control <?>\n"); break;
                    case 0x0C: P("Hot-plug capable\n"); break;
                    case 0x0D:
                        P($"Subsystem: {_ctx.Names.Subsystem(_dev.VendorId, _dev.DeviceId, _c.U16(where + 4), _c.U16(where + 6))}\n");
                        break;
                    case 0x0E: P("AGP3 <?>\n"); break;
                    case 0x0F: P("Secure device <?>\n"); break;
                    case 0x10:
                        _expType = CapExpress(where, cap);
                        canHaveExt = true;
                        break;
                    case 0x11: CapMsix(where, cap); break;
                    case 0x12: CapSata(where, cap); break;
                    case 0x13: P("PCI Advanced Features\n"); break;
                    case 0x14: P($"Enhanced Allocation (EA): NumEntries={cap & 0x3F}\n"); break;
                    default: P($"Capability ID {Hash02(id)} [{X(cap, 4)}]\n"); break;
                }
                where = next;
            }
        }
        if (canHaveExt) ShowExtCaps();
    }

    /// <summary>C's <c>%#02x</c>: "0x" prefix unless the value is zero.</summary>
    static string Hash02(int v) => v == 0 ? "00" : "0x" + X((uint)v, 0);

    void CapPm(int where, uint cap)
    {
        int[] aux = [0, 55, 100, 160, 220, 270, 320, 375];
        P($"Power Management version {cap & 7}\n");
        if (Verbose < 2) return;
        P($"\t\tFlags: PMEClk{F(cap, 8)} DSI{F(cap, 0x20)} D1{F(cap, 0x200)} D2{F(cap, 0x400)} AuxCurrent={aux[(cap >> 6) & 7]}mA PME(D0{F(cap, 0x800)},D1{F(cap, 0x1000)},D2{F(cap, 0x2000)},D3hot{F(cap, 0x4000)},D3cold{F(cap, 0x8000)})\n");
        uint t = _c.U16(where + 4);
        P($"\t\tStatus: D{t & 3} NoSoftRst{F(t, 8)} PME-Enable{F(t, 0x100)} DSel={(t >> 9) & 0xF} DScale={(t >> 13) & 3} PME{F(t, 0x8000)}\n");
        uint b = _c.U8(where + 6);
        if (b != 0) P($"\t\tBridge: PM{F(b, 0x80)} B3{F(~b, 0x40)}\n");
    }

    void CapMsi(int where, uint cap)
    {
        P($"MSI: Enable{F(cap, 1)} Count={1 << (int)((cap >> 4) & 7)}/{1 << (int)((cap >> 1) & 7)} Maskable{F(cap, 0x100)} 64bit{F(cap, 0x80)}\n");
        if (Verbose < 2) return;
        bool is64 = (cap & 0x80) != 0;
        P("\t\tAddress: ");
        uint data;
        if (is64)
        {
            P(X(_c.U32(where + 8), 8));
            data = _c.U16(where + 12);
        }
        else data = _c.U16(where + 8);
        P($"{X(_c.U32(where + 4), 8)}  Data: {X(data, 4)}\n");
        if ((cap & 0x100) != 0)
        {
            int m = where + (is64 ? 0x10 : 0x0C);
            P($"\t\tMasking: {X(_c.U32(m), 8)}  Pending: {X(_c.U32(m + 4), 8)}\n");
        }
    }

    void CapSata(int where, uint cap)
    {
        P($"SATA HBA v{(cap >> 4) & 0xF}.{cap & 0xF}");
        if (Verbose < 2)
        {
            P("\n");
            return;
        }
        uint bars = _c.U32(where + 4), bar = bars & 0xF;
        if (bar is >= 4 and <= 9) P($" BAR{bar - 4} Offset={X((bars >> 4) & 0xFFFFF, 8)}\n");
        else if (bar == 15) P(" InCfgSpace\n");
        else P($" BAR??{bar}\n");
    }

    void CapMsix(int where, uint cap)
    {
        P($"MSI-X: Enable{F(cap, 0x8000)} Count={(cap & 0x7FF) + 1} Masked{F(cap, 0x4000)}\n");
        if (Verbose < 2) return;
        uint off = _c.U32(where + 4);
        P($"\t\tVector table: BAR={off & 7} offset={X(off & ~7u, 8)}\n");
        off = _c.U32(where + 8);
        P($"\t\tPBA: BAR={off & 7} offset={X(off & ~7u, 8)}\n");
    }
}
