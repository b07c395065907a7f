namespace PcieVirt.PciUtils;

/// <summary>The extended capability list (PCIe Base Spec §7.6) as lspci 3.9.0 prints it.</summary>
internal sealed partial class DeviceWriter
{
    void ShowExtCaps()
    {
        int where = 0x100;
        var seen = new bool[0x1000];
        do
        {
            if (!_c.Has(where, 4)) break;
            uint header = _c.U32(where);
            if (header == 0 || header == 0xFFFFFFFF) break;
            int id = (int)(header & 0xFFFF);
            uint version = (header >> 16) & 0xF;
            P($"\tCapabilities: [{X((uint)where, 3)}");
            if (Verbose > 1) P($" v{version}");
            P("] ");
            if (seen[where])
            {
                P("<chain looped>\n");
                break;
            }
            seen[where] = true;
            switch (id)
            {
                case 0x00: P("Null\n"); break;
                case 0x01: CapAer(where); break;
                case 0x02 or 0x09: P("Virtual Channel\n"); break;
                case 0x03: CapDsn(where); break;
                case 0x04: P("Power Budgeting <?>\n"); break;
                case 0x05: P("Root Complex Link\n"); break;
                case 0x06: P("Root Complex Internal Link <?>\n"); break;
                case 0x07: P("Root Complex Event Collector Endpoint Association\n"); break;
                case 0x08: P("Multi-Function Virtual Channel <?>\n"); break;
                case 0x0A: P("Root Complex Register Block <?>\n"); break;
                case 0x0B:
                    uint vh = _c.U32(where + 4);
                    P($"Vendor Specific Information: ID={X(vh & 0xFFFF, 4)} Rev={(vh >> 16) & 0xF} Len={X(vh >> 20, 3)} <?>\n");
                    break;
                case 0x0D: CapAcs(where); break;
                case 0x0E: CapAri(where); break;
                case 0x0F: CapAts(where); break;
                case 0x10: CapSriov(where); break;
                case 0x11: P("Multi-Root I/O Virtualization <?>\n"); break;
                case 0x12: P("Multicast\n"); break;
                case 0x13: CapPri(where); break;
                case 0x15: P("Physical Resizable BAR\n"); break;
                case 0x16: P("Dynamic Power Allocation <?>\n"); break;
                case 0x17: P("Transaction Processing Hints\n"); break;
                case 0x18: CapLtr(where); break;
                case 0x19: P("Secondary PCI Express\n"); break;
                case 0x1A: P("Protocol Multiplexing <?>\n"); break;
                case 0x1B: CapPasid(where); break;
                case 0x1C: P("LN Requester <?>\n"); break;
                case 0x1D: P("Downstream Port Containment\n"); break;
                case 0x1E: P("L1 PM Substates\n"); break;
                case 0x1F: P("Precision Time Measurement\n"); break;
                case 0x20: P("PCI Express over M_PHY <?>\n"); break;
                case 0x21: P("FRS Queueing <?>\n"); break;
                case 0x22: P("Readiness Time Reporting <?>\n"); break;
                case 0x23:
                    uint d1 = _c.U32(where + 4), d2 = _c.U16(where + 8);
                    P($"Designated Vendor-Specific: Vendor={X(d1 & 0xFFFF, 4)} ID={X(d2, 4)} Rev={(d1 >> 16) & 0xF} Len={d1 >> 20} <?>\n");
                    break;
                case 0x24: P("Virtual Resizable BAR\n"); break;
                case 0x25: P("Data Link Feature <?>\n"); break;
                case 0x26: P("Physical Layer 16.0 GT/s <?>\n"); break;
                case 0x27: P("Lane Margining at the Receiver <?>\n"); break;
                case 0x28: P("Hierarchy ID <?>\n"); break;
                case 0x29: P("Native PCIe Enclosure Management <?>\n"); break;
                case 0x2E: P("Data Object Exchange\n"); break;
                default: P($"Extended Capability ID {Hash02(id)}\n"); break;
            }
            where = (int)(header >> 20) & ~3;
        } while (where != 0);
    }

    void CapDsn(int where)
    {
        uint t1 = _c.U32(where + 4), t2 = _c.U32(where + 8);
        P($"Device Serial Number {X(t2 >> 24, 2)}-{X((t2 >> 16) & 0xFF, 2)}-{X((t2 >> 8) & 0xFF, 2)}-{X(t2 & 0xFF, 2)}-{X(t1 >> 24, 2)}-{X((t1 >> 16) & 0xFF, 2)}-{X((t1 >> 8) & 0xFF, 2)}-{X(t1 & 0xFF, 2)}\n");
    }

    string UncorrectableBits(uint l) =>
        $"DLP{F(l, 1u << 4)} SDES{F(l, 1u << 5)} TLP{F(l, 1u << 12)} FCP{F(l, 1u << 13)} CmpltTO{F(l, 1u << 14)} CmpltAbrt{F(l, 1u << 15)} UnxCmplt{F(l, 1u << 16)} RxOF{F(l, 1u << 17)} MalfTLP{F(l, 1u << 18)} ECRC{F(l, 1u << 19)} UnsupReq{F(l, 1u << 20)} ACSViol{F(l, 1u << 21)}";

    string CorrectableBits(uint l) =>
        $"RxErr{F(l, 1)} BadTLP{F(l, 1u << 6)} BadDLLP{F(l, 1u << 7)} Rollover{F(l, 1u << 8)} Timeout{F(l, 1u << 12)} AdvNonFatalErr{F(l, 1u << 13)}";

    void CapAer(int where)
    {
        P("Advanced Error Reporting\n");
        if (Verbose < 2) return;
        P($"\t\tUESta:\t{UncorrectableBits(_c.U32(where + 4))}\n");
        P($"\t\tUEMsk:\t{UncorrectableBits(_c.U32(where + 8))}\n");
        P($"\t\tUESvrt:\t{UncorrectableBits(_c.U32(where + 0xC))}\n");
        P($"\t\tCESta:\t{CorrectableBits(_c.U32(where + 0x10))}\n");
        P($"\t\tCEMsk:\t{CorrectableBits(_c.U32(where + 0x14))}\n");
        uint l = _c.U32(where + 0x18);
        P($"\t\tAERCap:\tFirst Error Pointer: {X(l & 0x1F, 2)}, ECRCGenCap{F(l, 0x20)} ECRCGenEn{F(l, 0x40)} ECRCChkCap{F(l, 0x80)} ECRCChkEn{F(l, 0x100)}\n");
        P($"\t\t\tMultHdrRecCap{F(l, 0x200)} MultHdrRecEn{F(l, 0x400)} TLPPfxPres{F(l, 0x800)} HdrLogCap{F(l, 0x1000)}\n");
        P($"\t\tHeaderLog: {X(_c.U32(where + 0x1C), 8)} {X(_c.U32(where + 0x20), 8)} {X(_c.U32(where + 0x24), 8)} {X(_c.U32(where + 0x28), 8)}\n");
        if (_expType is TypeRootPort or TypeRootEc)
        {
            l = _c.U32(where + 0x2C);
            P($"\t\tRootCmd: CERptEn{F(l, 1)} NFERptEn{F(l, 2)} FERptEn{F(l, 4)}\n");
            l = _c.U32(where + 0x30);
            P($"\t\tRootSta: CERcvd{F(l, 1)} MultCERcvd{F(l, 2)} UERcvd{F(l, 4)} MultUERcvd{F(l, 8)}\n");
            P($"\t\t\t FirstFatal{F(l, 0x10)} NonFatalMsg{F(l, 0x20)} FatalMsg{F(l, 0x40)} IntMsg {l >> 27}\n");
            P($"\t\tErrorSrc: ERR_COR: {X(_c.U16(where + 0x34), 4)} ERR_FATAL/NONFATAL: {X(_c.U16(where + 0x36), 4)}\n");
        }
    }

    string AcsBits(uint w) =>
        $"SrcValid{F(w, 1)} TransBlk{F(w, 2)} ReqRedir{F(w, 4)} CmpltRedir{F(w, 8)} UpstreamFwd{F(w, 0x10)} EgressCtrl{F(w, 0x20)} DirectTrans{F(w, 0x40)}";

    void CapAcs(int where)
    {
        P("Access Control Services\n");
        if (Verbose < 2) return;
        P($"\t\tACSCap:\t{AcsBits(_c.U16(where + 4))}\n");
        P($"\t\tACSCtl:\t{AcsBits(_c.U16(where + 6))}\n");
    }

    void CapAri(int where)
    {
        P("Alternative Routing-ID Interpretation (ARI)\n");
        if (Verbose < 2) return;
        uint w = _c.U16(where + 4);
        P($"\t\tARICap:\tMFVC{F(w, 1)} ACS{F(w, 2)}, Next Function: {(w >> 8) & 0xFF}\n");
        w = _c.U16(where + 6);
        P($"\t\tARICtl:\tMFVC{F(w, 1)} ACS{F(w, 2)}, Function Group: {(w >> 4) & 7}\n");
    }

    void CapAts(int where)
    {
        P("Address Translation Service (ATS)\n");
        if (Verbose < 2) return;
        uint w = _c.U16(where + 4);
        P($"\t\tATSCap:\tInvalidate Queue Depth: {X(w & 0x1F, 2)}\n");
        w = _c.U16(where + 6);
        P($"\t\tATSCtl:\tEnable{F(w, 0x8000)}, Smallest Translation Unit: {X(w & 0x1F, 2)}\n");
    }

    void CapPri(int where)
    {
        P("Page Request Interface (PRI)\n");
        if (Verbose < 2) return;
        uint w = _c.U16(where + 4);
        P($"\t\tPRICtl: Enable{F(w, 1)} Reset{F(w, 2)}\n");
        w = _c.U16(where + 6);
        P($"\t\tPRISta: RF{F(w, 1)} UPRGI{F(w, 2)} Stopped{F(w, 0x100)}\n");
        P($"\t\tPage Request Capacity: {X(_c.U32(where + 8), 8)}, Page Request Allocation: {X(_c.U32(where + 0xC), 8)}\n");
    }

    void CapPasid(int where)
    {
        P("Process Address Space ID (PASID)\n");
        if (Verbose < 2) return;
        uint w = _c.U16(where + 4);
        P($"\t\tPASIDCap: Exec{F(w, 2)} Priv{F(w, 4)}, Max PASID Width: {X((w >> 8) & 0x1F, 2)}\n");
        w = _c.U16(where + 6);
        P($"\t\tPASIDCtl: Enable{F(w, 1)} Exec{F(w, 2)} Priv{F(w, 4)}\n");
    }

    void CapLtr(int where)
    {
        P("Latency Tolerance Reporting\n");
        if (Verbose < 2) return;
        uint snoop = _c.U16(where + 4), nosnoop = _c.U16(where + 6);
        P($"\t\tMax snoop latency: {(ulong)(snoop & 0x3FF) * LtrScale(snoop)}ns\n");
        P($"\t\tMax no snoop latency: {(ulong)(nosnoop & 0x3FF) * LtrScale(nosnoop)}ns\n");
    }

    /// <summary>
    /// LTR latency scale 2^(5·scale) ns (PCIe Base Spec §7.8.2). Scale values 6–7 are reserved; lspci
    /// computes them with a 32-bit shift, which wraps the shift count, and we print the same.
    /// </summary>
    static uint LtrScale(uint reg) => 1u << (int)((((reg >> 10) & 7) * 5) & 31);

    void CapSriov(int where)
    {
        P("Single Root I/O Virtualization (SR-IOV)\n");
        if (Verbose < 2) return;
        uint l = _c.U32(where + 4);
        P($"\t\tIOVCap:\tMigration{F(l, 1)} 10BitTagReq{F(l, 4)} Interrupt Message Number: {X(l >> 21, 3)}\n");
        uint w = _c.U16(where + 8);
        P($"\t\tIOVCtl:\tEnable{F(w, 1)} Migration{F(w, 2)} Interrupt{F(w, 4)} MSE{F(w, 8)} ARIHierarchy{F(w, 0x10)} 10BitTagReq{F(w, 0x20)}\n");
        w = _c.U16(where + 0xA);
        P($"\t\tIOVSta:\tMigration{F(w, 1)}\n");
        P($"\t\tInitial VFs: {_c.U16(where + 0xC)}, Total VFs: {_c.U16(where + 0xE)}, Number of VFs: {_c.U16(where + 0x10)}, Function Dependency Link: {X(_c.U8(where + 0x12), 2)}\n");
        P($"\t\tVF offset: {_c.U16(where + 0x14)}, stride: {_c.U16(where + 0x16)}, Device ID: {X(_c.U16(where + 0x1A), 4)}\n");
        P($"\t\tSupported Page Size: {X(_c.U32(where + 0x1C), 8)}, System Page Size: {X(_c.U32(where + 0x20), 8)}\n");
        for (int i = 0; i < 6; i++)
        {
            l = _c.U32(where + 0x24 + 4 * i);
            if (l == 0xFFFFFFFF) l = 0;
            if (l == 0) continue;
            P($"\t\tRegion {i}: Memory at ");
            uint type = l & 6;
            if (type == 4)
            {
                i++;
                P(X(_c.U32(where + 0x24 + 4 * i), 8));
            }
            P($"{X(l & ~0xFu, 8)} ({(type == 0 ? "32" : "64")}-bit, {((l & 8) != 0 ? "" : "non-")}prefetchable)\n");
        }
        l = _c.U32(where + 0x3C);
        P($"\t\tVF Migration: offset: {X(l & ~7u, 8)}, BIR: {X(l & 7, 0)}\n");
    }
}
