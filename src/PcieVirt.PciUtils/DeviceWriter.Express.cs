using System.Globalization;

namespace PcieVirt.PciUtils;

/// <summary>The PCI Express capability (PCIe Base Spec §7.5.3) as lspci 3.9.0 prints it.</summary>
internal sealed partial class DeviceWriter
{
    static bool IsDownstreamPort(int type) => type is TypeRootPort or TypeDownstream or TypePcieBridge;

    int CapExpress(int where, uint cap)
    {
        int type = (int)((cap >> 4) & 0xF);
        bool slot = false, link = true;
        P("Express ");
        if (Verbose >= 2) P($"(v{cap & 0xF}) ");
        switch (type)
        {
            case TypeEndpoint: P("Endpoint"); break;
            case TypeLegacyEndpoint: P("Legacy Endpoint"); break;
            case TypeRootPort:
                slot = (cap & 0x100) != 0;
                P($"Root Port (Slot{F(cap, 0x100)})");
                break;
            case TypeUpstream: P("Upstream Port"); break;
            case TypeDownstream:
                slot = (cap & 0x100) != 0;
                P($"Downstream Port (Slot{F(cap, 0x100)})");
                break;
            case TypePciBridge: P("PCI-Express to PCI/PCI-X Bridge"); break;
            case TypePcieBridge:
                slot = (cap & 0x100) != 0;
                P($"PCI/PCI-X to PCI-Express Bridge (Slot{F(cap, 0x100)})");
                break;
            case TypeRootIntEp:
                link = false;
                P("Root Complex Integrated Endpoint");
                break;
            case TypeRootEc:
                link = false;
                P("Root Complex Event Collector");
                break;
            default: P($"Unknown type {type}"); break;
        }
        P($", MSI {X((cap >> 9) & 0x1F, 2)}\n");
        if (Verbose < 2) return type;

        ExpressDevice(where, type);
        if (link) ExpressLink(where, type);
        if (slot) ExpressSlot(where);
        if (type is TypeRootPort or TypeRootEc) ExpressRoot(where);
        if ((cap & 0xF) < 2) return type;
        ExpressDevice2(where, type);
        if (link) ExpressLink2(where, type);
        return type;
    }

    static string PowerLimit(uint value, uint scale)
    {
        if (scale == 0 && value == 0xFF) return ">600W";
        if (scale == 0 && value is >= 0xF0 and <= 0xFE) value = 250 + 25 * (value - 0xF0);
        double[] scales = [1.0, 0.1, 0.01, 0.001];
        return FormatG(value * scales[scale]) + "W";
    }

    /// <summary>C's <c>%g</c> for the small values power limits produce.</summary>
    static string FormatG(double v)
    {
        var s = v.ToString("G6", CultureInfo.InvariantCulture);
        return s.Contains('E') ? v.ToString("0.#####", CultureInfo.InvariantCulture) : s;
    }

    static readonly string[] L0sLatency = ["<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited"];
    static readonly string[] L1Latency = ["<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited"];

    void ExpressDevice(int where, int type)
    {
        uint t = _c.U32(where + 4);
        P($"\t\tDevCap:\tMaxPayload {128 << (int)(t & 7)} bytes, PhantFunc {(1 << (int)((t >> 3) & 3)) - 1}");
        if (type is TypeEndpoint or TypeLegacyEndpoint)
            P($", Latency L0s {L0sLatency[(t >> 6) & 7]}, L1 {L1Latency[(t >> 9) & 7]}");
        P("\n");
        P($"\t\t\tExtTag{F(t, 0x20)}");
        if (type is TypeEndpoint or TypeLegacyEndpoint or TypeUpstream or TypePciBridge)
            P($" AttnBtn{F(t, 0x1000)} AttnInd{F(t, 0x2000)} PwrInd{F(t, 0x4000)}");
        P($" RBE{F(t, 0x8000)}");
        if (type is TypeEndpoint or TypeLegacyEndpoint or TypeRootIntEp)
            P($" FLReset{F(t, 0x10000000)}");
        if (type is TypeEndpoint or TypeUpstream or TypePciBridge)
            P($" SlotPowerLimit {PowerLimit((t >> 18) & 0xFF, (t >> 26) & 3)}");
        P("\n");

        uint w = _c.U16(where + 8);
        P($"\t\tDevCtl:\tCorrErr{F(w, 1)} NonFatalErr{F(w, 2)} FatalErr{F(w, 4)} UnsupReq{F(w, 8)}\n");
        P($"\t\t\tRlxdOrd{F(w, 0x10)} ExtTag{F(w, 0x100)} PhantFunc{F(w, 0x200)} AuxPwr{F(w, 0x400)} NoSnoop{F(w, 0x800)}");
        if (type == TypePciBridge) P($" BrConfRtry{F(w, 0x8000)}");
        if (type is TypeEndpoint or TypeLegacyEndpoint or TypeRootIntEp && (t & 0x10000000) != 0)
            P($" FLReset{F(w, 0x8000)}");
        P($"\n\t\t\tMaxPayload {128 << (int)((w >> 5) & 7)} bytes, MaxReadReq {128 << (int)((w >> 12) & 7)} bytes\n");

        w = _c.U16(where + 0xA);
        P($"\t\tDevSta:\tCorrErr{F(w, 1)} NonFatalErr{F(w, 2)} FatalErr{F(w, 4)} UnsupReq{F(w, 8)} AuxPwr{F(w, 0x10)} TransPend{F(w, 0x20)}\n");
    }

    static string LinkSpeed(uint speed) => speed switch
    {
        1 => "2.5GT/s", 2 => "5GT/s", 3 => "8GT/s", 4 => "16GT/s", 5 => "32GT/s", 6 => "64GT/s", _ => "unknown",
    };

    static string LinkCompare(int type, uint sta, uint cap)
    {
        if (sta > cap) return " (overdriven)";
        if (sta == cap) return "";
        if (type is TypeRootPort or TypeDownstream or TypePcieBridge) return "";
        return " (downgraded)";
    }

    static string AspmSupport(uint code) => code switch
    {
        0 => "not supported", 1 => "L0s", 2 => "L1", _ => "L0s L1",
    };

    static readonly string[] AspmEnabled = ["Disabled", "L0s Enabled", "L1 Enabled", "L0s L1 Enabled"];

    void ExpressLink(int where, int type)
    {
        uint t = _c.U32(where + 0xC);
        uint aspm = (t >> 10) & 3, capSpeed = t & 0xF, capWidth = (t >> 4) & 0x3F;
        P($"\t\tLnkCap:\tPort #{t >> 24}, Speed {LinkSpeed(capSpeed)}, Width x{capWidth}, ASPM {AspmSupport(aspm)}");
        if (aspm != 0)
        {
            P(", Exit Latency ");
            if ((aspm & 1) != 0) P($"L0s {L0sLatency[(t >> 12) & 7]}");
            if ((aspm & 2) != 0) P($"{((aspm & 1) != 0 ? ", " : "")}L1 {L1Latency[(t >> 15) & 7]}");
        }
        P("\n");
        P($"\t\t\tClockPM{F(t, 0x40000)} Surprise{F(t, 0x80000)} LLActRep{F(t, 0x100000)} BwNot{F(t, 0x200000)} ASPMOptComp{F(t, 0x400000)}\n");

        uint w = _c.U16(where + 0x10);
        P($"\t\tLnkCtl:\tASPM {AspmEnabled[w & 3]};");
        if (type is TypeRootPort or TypeEndpoint or TypeLegacyEndpoint or TypePciBridge)
            P($" RCB {((w & 8) != 0 ? 128 : 64)} bytes,");
        P($" Disabled{F(w, 0x10)} CommClk{F(w, 0x40)}\n\t\t\tExtSynch{F(w, 0x80)} ClockPM{F(w, 0x100)} AutWidDis{F(w, 0x200)} BWInt{F(w, 0x400)} AutBWInt{F(w, 0x800)}\n");

        w = _c.U16(where + 0x12);
        uint staSpeed = w & 0xF, staWidth = (w >> 4) & 0x3F;
        P($"\t\tLnkSta:\tSpeed {LinkSpeed(staSpeed)}{LinkCompare(type, staSpeed, capSpeed)}, Width x{staWidth}{LinkCompare(type, staWidth, capWidth)}\n");
        P($"\t\t\tTrErr{F(w, 0x400)} Train{F(w, 0x800)} SlotClk{F(w, 0x1000)} DLActive{F(w, 0x2000)} BWMgmt{F(w, 0x4000)} ABWMgmt{F(w, 0x8000)}\n");
    }

    static readonly string[] Indicator = ["Unknown", "On", "Blink", "Off"];

    void ExpressSlot(int where)
    {
        uint t = _c.U32(where + 0x14);
        P($"\t\tSltCap:\tAttnBtn{F(t, 1)} PwrCtrl{F(t, 2)} MRL{F(t, 4)} AttnInd{F(t, 8)} PwrInd{F(t, 0x10)} HotPlug{F(t, 0x40)} Surprise{F(t, 0x20)}\n");
        P($"\t\t\tSlot #{t >> 19}, PowerLimit {PowerLimit((t >> 7) & 0xFF, (t >> 15) & 3)}; Interlock{F(t, 0x20000)} NoCompl{F(t, 0x40000)}\n");
        uint w = _c.U16(where + 0x18);
        P($"\t\tSltCtl:\tEnable: AttnBtn{F(w, 1)} PwrFlt{F(w, 2)} MRL{F(w, 4)} PresDet{F(w, 8)} CmdCplt{F(w, 0x10)} HPIrq{F(w, 0x20)} LinkChg{F(w, 0x1000)}\n");
        P($"\t\t\tControl: AttnInd {Indicator[(w >> 6) & 3]}, PwrInd {Indicator[(w >> 8) & 3]}, Power{F(w, 0x400)} Interlock{F(w, 0x800)}\n");
        w = _c.U16(where + 0x1A);
        P($"\t\tSltSta:\tStatus: AttnBtn{F(w, 1)} PowerFlt{F(w, 2)} MRL{F(w, 0x20)} CmdCplt{F(w, 0x10)} PresDet{F(w, 0x40)} Interlock{F(w, 0x80)}\n");
        P($"\t\t\tChanged: MRL{F(w, 4)} PresDet{F(w, 8)} LinkState{F(w, 0x100)}\n");
    }

    void ExpressRoot(int where)
    {
        uint w = _c.U16(where + 0x1E);
        P($"\t\tRootCap: CRSVisible{F(w, 1)}\n");
        w = _c.U16(where + 0x1C);
        P($"\t\tRootCtl: ErrCorrectable{F(w, 1)} ErrNon-Fatal{F(w, 2)} ErrFatal{F(w, 4)} PMEIntEna{F(w, 8)} CRSVisible{F(w, 0x10)}\n");
        uint l = _c.U32(where + 0x20);
        P($"\t\tRootSta: PME ReqID {X(l & 0xFFFF, 4)}, PMEStatus{F(l, 0x10000)} PMEPending{F(l, 0x20000)}\n");
    }

    static string TimeoutRange(uint r) => r switch
    {
        0 => "Not Supported", 1 => "Range A", 2 => "Range B", 3 => "Range AB", 6 => "Range BC", 7 => "Range ABC",
        14 => "Range BCD", 15 => "Range ABCD", _ => "Unknown",
    };

    static string TimeoutValue(uint v) => v switch
    {
        0 => "50us to 50ms", 1 => "50us to 100us", 2 => "1ms to 10ms", 5 => "16ms to 55ms", 6 => "65ms to 210ms",
        9 => "260ms to 900ms", 10 => "1s to 3.5s", 13 => "4s to 13s", 14 => "17s to 64s", _ => "Unknown",
    };

    static string Obff(uint o) => o switch { 1 => "Via message", 2 => "Via WAKE#", 3 => "Via message/WAKE#", _ => "Not Supported" };
    static string Epr(uint e) => e switch { 1 => "Dev Specific", 2 => "Form Factor Dev Specific", 3 => "Reserved", _ => "Not Supported" };
    static string LnCls(uint c) => c switch { 1 => "64byte cachelines", 2 => "128byte cachelines", 3 => "Reserved", _ => "Not Supported" };
    static string TphComp(uint t) => t switch { 1 => "TPHComp+ ExtTPHComp-", 2 => "", 3 => "TPHComp+ ExtTPHComp+", _ => "TPHComp- ExtTPHComp-" };
    static string ObffCtl(uint o) => o switch { 0 => "Disabled", 1 => "Via message A", 2 => "Via message B", _ => "Via WAKE#" };

    /// <summary>Whether the function has a memory BAR (lspci shows AtomicOps completer bits only then).</summary>
    bool HasMemoryBar()
    {
        int count = _c.HeaderLayout == 0 ? 6 : _c.HeaderLayout == 1 ? 2 : 1;
        for (int i = 0; i < count; i++)
        {
            ulong pos;
            ulong size = 0;
            if (_dev.Info != null)
            {
                var r = i < _dev.Info.Bars.Count ? _dev.Info.Bars[i] : default;
                pos = r.Size != 0 ? r.Base : 0;
                size = r.Size;
            }
            else pos = ConfigBase(i, count);
            if ((pos != 0 || size != 0) && (pos & 1) == 0) return true;
        }
        return false;
    }

    void ExpressDevice2(int where, int type)
    {
        uint l = _c.U32(where + 0x24);
        bool memBar = HasMemoryBar();
        P($"\t\tDevCap2: Completion Timeout: {TimeoutRange(l & 0xF)}, TimeoutDis{F(l, 0x10)} NROPrPrP{F(l, 0x400)} LTR{F(l, 0x800)}");
        P($"\n\t\t\t 10BitTagComp{F(l, 0x10000)} 10BitTagReq{F(l, 0x20000)} OBFF {Obff((l >> 18) & 3)}, ExtFmt{F(l, 0x100000)} EETLPPrefix{F(l, 0x200000)}");
        if ((l & 0x200000) != 0)
        {
            uint max = (l >> 22) & 3;
            P($", MaxEETLPPrefixes {(max != 0 ? max : 4)}");
        }
        P($"\n\t\t\t EmergencyPowerReduction {Epr((l >> 24) & 3)}, EmergencyPowerReductionInit{F(l, 0x4000000)}");
        P($"\n\t\t\t FRS{F(l, 0x80000000)}");
        if (type == TypeRootPort) P($" LN System CLS {LnCls((l >> 14) & 3)},");
        if (type is TypeRootPort or TypeEndpoint) P($" {TphComp((l >> 12) & 3)}");
        if (type is TypeRootPort or TypeDownstream) P($" ARIFwd{F(l, 0x20)}\n");
        else P("\n");
        if (type is TypeRootPort or TypeUpstream or TypeDownstream || memBar)
        {
            P("\t\t\t AtomicOpsCap:");
            if (type is TypeRootPort or TypeUpstream or TypeDownstream) P($" Routing{F(l, 0x40)}");
            if (type == TypeRootPort || memBar) P($" 32bit{F(l, 0x80)} 64bit{F(l, 0x100)} 128bitCAS{F(l, 0x200)}");
            P("\n");
        }

        uint w = _c.U16(where + 0x28);
        P($"\t\tDevCtl2: Completion Timeout: {TimeoutValue(w & 0xF)}, TimeoutDis{F(w, 0x10)} LTR{F(w, 0x400)} 10BitTagReq{F(w, 0x1000)} OBFF {ObffCtl((w >> 13) & 3)},");
        if (type is TypeRootPort or TypeDownstream) P($" ARIFwd{F(w, 0x20)}\n");
        else P("\n");
        if (type is TypeRootPort or TypeUpstream or TypeDownstream or TypeEndpoint or TypeRootIntEp or TypeLegacyEndpoint)
        {
            P("\t\t\t AtomicOpsCtl:");
            if (type is TypeRootPort or TypeEndpoint or TypeRootIntEp or TypeLegacyEndpoint) P($" ReqEn{F(w, 0x40)}");
            if (type is TypeRootPort or TypeUpstream or TypeDownstream) P($" EgressBlck{F(w, 0x80)}");
            P("\n");
        }
    }

    static string SpeedCap(uint vector)
    {
        if ((vector & 0x60) != 0) return "RsvdP";
        if ((vector & 0x10) != 0) return "2.5-32GT/s";
        if ((vector & 0x08) != 0) return "2.5-16GT/s";
        if ((vector & 0x04) != 0) return "2.5-8GT/s";
        if ((vector & 0x02) != 0) return "2.5-5GT/s";
        if ((vector & 0x01) != 0) return "2.5GT/s";
        return "Unknown";
    }

    static string TargetSpeed(uint s) => s switch
    {
        0 or 1 => "2.5GT/s", 2 => "5GT/s", 3 => "8GT/s", 4 => "16GT/s", 5 => "32GT/s", 6 => "64GT/s", _ => "Unknown",
    };

    static string Deemphasis(uint d) => d == 0 ? "-6dB" : "-3.5dB";

    static string CompliancePreset(uint p) => p switch
    {
        0 => "-6dB de-emphasis, 0dB preshoot", 1 => "-3.5dB de-emphasis, 0dB preshoot", 2 => "-4.4dB de-emphasis, 0dB preshoot",
        3 => "-2.5dB de-emphasis, 0dB preshoot", 4 => "0dB de-emphasis, 0dB preshoot", 5 => "0dB de-emphasis, 1.9dB preshoot",
        6 => "0dB de-emphasis, 2.5dB preshoot", 7 => "-6.0dB de-emphasis, 3.5dB preshoot", 8 => "-3.5dB de-emphasis, 3.5dB preshoot",
        9 => "0dB de-emphasis, 3.5dB preshoot", _ => "Unknown",
    };

    static string TransmitMargin(uint m) => m switch
    {
        0 => "Normal Operating Range", 1 => "800-1200mV(full-swing)/400-700mV(half-swing)",
        2 or 3 or 4 or 5 => "200-400mV(full-swing)/100-200mV(half-swing)", _ => "Unknown",
    };

    static string CrosslinkRes(uint c) => c switch { 0 => "unsupported", 1 => "Upstream Port", 2 => "Downstream Port", _ => "incomplete" };

    static string Component(uint p) => p switch
    {
        0 => "Link Down - Not Determined", 1 => "Link Down - Not Present", 2 => "Link Down - Present",
        4 => "Link Up - Present", 5 => "Link Up - Present and DRS Received", _ => "Reserved",
    };

    void ExpressLink2(int where, int type)
    {
        uint l = 0;
        var bdf = _c.Address.Bdf;
        // Link Capabilities/Control 2 are shown for every function except non-zero functions of
        // endpoints (whose link registers belong to function 0).
        if (!(type is TypeEndpoint or TypeLegacyEndpoint && (bdf.Device != 0 || bdf.Function != 0)))
        {
            l = _c.U32(where + 0x2C);
            if (l != 0)
                P($"\t\tLnkCap2: Supported Link Speeds: {SpeedCap((l >> 1) & 0x7F)}, Crosslink{F(l, 0x100)} Retimer{F(l, 0x800000)} 2Retimers{F(l, 0x1000000)} DRS{F(l, 0x80000000)}\n");
            uint c = _c.U16(where + 0x30);
            P($"\t\tLnkCtl2: Target Link Speed: {TargetSpeed(c & 0xF)}, EnterCompliance{F(c, 0x10)} SpeedDis{F(c, 0x20)}");
            if (type == TypeDownstream) P($", Selectable De-emphasis: {Deemphasis((c >> 6) & 1)}");
            P($"\n\t\t\t Transmit Margin: {TransmitMargin((c >> 7) & 7)}, EnterModifiedCompliance{F(c, 0x400)} ComplianceSOS{F(c, 0x800)}\n");
            P($"\t\t\t Compliance Preset/De-emphasis: {CompliancePreset((c >> 12) & 0xF)}\n");
        }
        uint w = _c.U16(where + 0x32);
        P($"\t\tLnkSta2: Current De-emphasis Level: {Deemphasis(w & 1)}, EqualizationComplete{F(w, 2)} EqualizationPhase1{F(w, 4)}\n");
        P($"\t\t\t EqualizationPhase2{F(w, 8)} EqualizationPhase3{F(w, 0x10)} LinkEqualizationRequest{F(w, 0x20)}\n");
        P($"\t\t\t Retimer{F(w, 0x40)} 2Retimers{F(w, 0x80)} CrosslinkRes: {CrosslinkRes((w >> 8) & 3)}");
        if (IsDownstreamPort(type) && (l & 0x80000000) != 0)
            P($", DRS{F(w, 0x8000)}\n\t\t\t DownstreamComp: {Component((w >> 12) & 7)}\n");
        else P("\n");
    }
}
