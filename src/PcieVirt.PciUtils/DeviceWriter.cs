using System.Globalization;
using System.Text;
using PcieVirt.Fabric;

namespace PcieVirt.PciUtils;

/// <summary>Formats one function the way lspci 3.9.0 does (terse and verbose header, BARs, bridge windows).</summary>
internal sealed partial class DeviceWriter
{
    readonly Lspci.Context _ctx;
    readonly Lspci.Device _dev;
    readonly ConfigImage _c;
    readonly StringBuilder _sb = new();
    /// <summary>PCIe Device/Port Type from the Express capability (-1 when absent).</summary>
    int _expType = -1;

    DeviceWriter(Lspci.Context ctx, Lspci.Device dev)
    {
        _ctx = ctx;
        _dev = dev;
        _c = dev.Config;
    }

    int Verbose => _ctx.Verbose;

    static char F(uint value, uint bit) => (value & bit) != 0 ? '+' : '-';
    static string X(uint v, int digits) => v.ToString("x" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    void P(string s) => _sb.Append(s);
    void P(FormattableString s) => _sb.Append(string.Format(CultureInfo.InvariantCulture, s.Format, s.GetArguments()));

    void Flush()
    {
        _ctx.Out.Write(_sb.ToString());
        _sb.Clear();
    }

    public static void ShowTerse(Lspci.Context ctx, Lspci.Device d)
    {
        var w = new DeviceWriter(ctx, d);
        w.Terse();
        w.Flush();
    }

    public static void ShowVerbose(Lspci.Context ctx, Lspci.Device d)
    {
        var w = new DeviceWriter(ctx, d);
        w.Verbose3();
        w.Flush();
    }

    /// <summary>Subsystem IDs as libpci reports them: Type 0 header, the SSVID capability of a bridge, or the CardBus header.</summary>
    (ushort Vendor, ushort Device)? SubsystemIds()
    {
        switch (_c.HeaderLayout)
        {
            case 0:
                return (_c.U16(0x2C), _c.U16(0x2E));
            case 1:
                int where = FindCapability(0x0D);
                return where > 0 ? (_c.U16(where + 4), _c.U16(where + 6)) : null;
            case 2:
                return (_c.U16(0x40), _c.U16(0x42));
            default:
                return null;
        }
    }

    int FindCapability(int id)
    {
        if ((_c.Status & 0x10) == 0) return 0;
        int where = _c.U8(0x34) & ~3;
        var seen = new bool[256];
        while (where != 0 && !seen[where])
        {
            seen[where] = true;
            if (_c.U8(where) == id) return where;
            where = _c.U8(where + 1) & ~3;
        }
        return 0;
    }

    void Terse()
    {
        var n = _ctx.Names;
        P(Lspci.SlotName(_ctx, _c.Address));
        P($" {n.Class(_c.ClassCode)}: {n.VendorDevice(_dev.VendorId, _dev.DeviceId)}");
        if (_c.Revision != 0) P($" (rev {X(_c.Revision, 2)})");
        if (Verbose > 0)
        {
            byte pi = _c.ProgIf;
            var name = n.ProgIf(_c.ClassCode, pi);
            if (pi != 0 || name != null)
            {
                P($" (prog-if {X(pi, 2)}");
                if (name != null) P($" [{name}]");
                P(")");
            }
        }
        P("\n");
        if (Verbose > 0 || _ctx.Options.Kernel)
        {
            if (SubsystemIds() is { } ss && ss.Vendor != 0 && ss.Vendor != 0xFFFF)
                P($"\tSubsystem: {n.Subsystem(_dev.VendorId, _dev.DeviceId, ss.Vendor, ss.Device)}\n");
        }
    }

    static string DevSel(ushort status) => ((status >> 9) & 3) switch { 0 => "fast", 1 => "medium", 2 => "slow", _ => "??" };

    /// <summary>The IRQ libpci reports: the Interrupt Line register when read from config.</summary>
    uint Irq => _c.U8(0x3C);

    void Verbose3()
    {
        Terse();
        int htype = _c.HeaderLayout;
        ushort cls = _c.ClassCode;
        byte bist = 0, maxLat = 0, minGnt = 0;
        bool unknown = false;
        switch (htype)
        {
            case 0:
                if (cls == 0x0604) P($"\t!!! Invalid class {X(cls, 4)} for header type {X((uint)htype, 2)}\n");
                bist = _c.U8(0xF);
                maxLat = _c.U8(0x3F);
                minGnt = _c.U8(0x3E);
                break;
            case 1 or 2:
                if (cls >> 8 != 0x06) P($"\t!!! Invalid class {X(cls, 4)} for header type {X((uint)htype, 2)}\n");
                bist = _c.U8(0xF);
                break;
            default:
                P($"\t!!! Unknown header type {X((uint)htype, 2)}\n");
                unknown = true;
                break;
        }

        ushort cmd = _c.Command, status = _c.Status;
        if (!unknown && Verbose > 1)
        {
            P($"\tControl: I/O{F(cmd, 1)} Mem{F(cmd, 2)} BusMaster{F(cmd, 4)} SpecCycle{F(cmd, 8)} MemWINV{F(cmd, 0x10)} VGASnoop{F(cmd, 0x20)} ParErr{F(cmd, 0x40)} Stepping{F(cmd, 0x80)} SERR{F(cmd, 0x100)} FastB2B{F(cmd, 0x200)} DisINTx{F(cmd, 0x400)}\n");
            P($"\tStatus: Cap{F(status, 0x10)} 66MHz{F(status, 0x20)} UDF{F(status, 0x40)} FastB2B{F(status, 0x80)} ParErr{F(status, 0x100)} DEVSEL={DevSel(status)} >TAbort{F(status, 0x800)} <TAbort{F(status, 0x1000)} <MAbort{F(status, 0x2000)} >SERR{F(status, 0x4000)} <PERR{F(status, 0x8000)} INTx{F(status, 8)}\n");
            if ((cmd & 4) != 0)
            {
                P($"\tLatency: {_c.U8(0xD)}");
                if (minGnt != 0 || maxLat != 0)
                {
                    P(" (");
                    if (minGnt != 0) P($"{minGnt * 250}ns min");
                    if (minGnt != 0 && maxLat != 0) P(", ");
                    if (maxLat != 0) P($"{maxLat * 250}ns max");
                    P(")");
                }
                if (_c.U8(0xC) != 0) P($", Cache Line Size: {_c.U8(0xC) * 4} bytes");
                P("\n");
            }
        }
        if (Verbose > 1)
        {
            byte pin = unknown ? (byte)0 : _c.U8(0x3D);
            if (pin != 0 || Irq != 0)
                P($"\tInterrupt: pin {(pin != 0 ? (char)('A' + pin - 1) : '?')} routed to IRQ {Irq}\n");
        }
        if (!unknown && Verbose <= 1)
        {
            P("\tFlags: ");
            if ((cmd & 4) != 0) P("bus master, ");
            if ((cmd & 0x20) != 0) P("VGA palette snoop, ");
            if ((cmd & 0x80) != 0) P("stepping, ");
            if ((cmd & 0x200) != 0) P("fast Back2Back, ");
            if ((status & 0x20) != 0) P("66MHz, ");
            if ((status & 0x40) != 0) P("user-definable features, ");
            P($"{DevSel(status)} devsel");
            if ((cmd & 4) != 0) P($", latency {_c.U8(0xD)}");
            if (Irq != 0) P($", IRQ {Irq}");
            P("\n");
        }
        if ((bist & 0x80) != 0)
        {
            if ((bist & 0x40) != 0) P("\tBIST is running\n");
            else P($"\tBIST result: {X((uint)(bist & 0xF), 2)}\n");
        }
        switch (htype)
        {
            case 0:
                ShowBases(6);
                ShowRom(0x30);
                ShowCaps(0x34);
                break;
            case 1:
                ShowType1();
                break;
            case 2:
                ShowType2();
                break;
        }
    }

    static void Size(StringBuilder sb, ulong x)
    {
        if (x == 0) return;
        string[] suffix = ["", "K", "M", "G", "T"];
        int i = 0;
        for (; i < suffix.Length - 1; i++)
        {
            if (x % 1024 != 0) break;
            x /= 1024;
        }
        sb.Append(CultureInfo.InvariantCulture, $" [size={(uint)x}{suffix[i]}]");
    }

    void ShowBases(int count)
    {
        ushort cmd = _c.Command;
        var info = _dev.Info;
        for (int i = 0; i < count; i++)
        {
            uint flg = _c.U32(0x10 + 4 * i);
            // What the OS reports: sysfs resources when the host describes the function,
            // otherwise the addresses libpci derives from the BARs themselves.
            ulong pos, len = 0;
            if (info != null)
            {
                var r = i < info.Bars.Count ? info.Bars[i] : default;
                pos = r.Size != 0 ? r.Base : 0;
                len = r.Size;
            }
            else pos = ConfigBase(i, count);
            if (flg == 0xFFFFFFFF) flg = 0;
            uint hwLower = 0, hwUpper = 0;
            bool virt = false;
            if (info != null)
            {
                // Live mode: the region's type comes from the OS (as sysfs resource flags do), so a
                // register the OS does not report, such as the upper half of a 64-bit BAR, is not
                // shown. A region the OS assigned while the function's own BAR reads zero (an SR-IOV
                // VF) is "virtual".
                hwLower = flg;
                flg = len != 0 || pos != 0 ? (uint)(pos & 0xF) : 0;
                if ((pos & 1) == (hwLower & 1))
                {
                    if ((pos & 1) == 0 && (hwLower & 6) == 4 && i < count - 1) hwUpper = _c.U32(0x10 + 4 * (i + 1));
                    hwLower &= (hwLower & 1) != 0 ? ~3u : ~0xFu;
                    if (pos != 0 && hwLower == 0 && hwUpper == 0) virt = true;
                }
                else hwLower = 0;
            }
            if (pos == 0 && flg == 0 && len == 0) continue;
            P(Verbose > 1 ? $"\tRegion {i}: " : "\t");

            if ((flg & 1) != 0)
            {
                ulong a = pos & ~3UL;
                P("I/O ports at ");
                if (a != 0 || (cmd & 1) != 0) P(a.ToString("x4", CultureInfo.InvariantCulture));
                else if (hwLower != 0) P("<ignored>");
                else P("<unassigned>");
                if (virt) P(" [virtual]");
                else if ((cmd & 1) == 0) P(" [disabled]");
            }
            else
            {
                uint t = flg & 6;
                ulong a = pos & ~0xFUL;
                P("Memory at ");
                if (a != 0) P(a.ToString("x8", CultureInfo.InvariantCulture));
                else if (hwLower != 0 || hwUpper != 0) P("<ignored>");
                else P("<unassigned>");
                P($" ({(t == 0 ? "32-bit" : t == 4 ? "64-bit" : t == 2 ? "low-1M" : "type 3")}, {((flg & 8) != 0 ? "" : "non-")}prefetchable)");
                if (virt) P(" [virtual]");
                else if ((cmd & 2) == 0) P(" [disabled]");
            }
            Size(_sb, len);
            P("\n");
        }
    }

    /// <summary>
    /// The base address libpci computes from config for BAR <paramref name="i"/>: the register value
    /// with its flag bits, the upper dword of a 64-bit BAR folded in (the upper register itself
    /// reports 0).
    /// </summary>
    ulong ConfigBase(int i, int count)
    {
        for (int j = 0; j < count; j++)
        {
            uint x = _c.U32(0x10 + 4 * j);
            if (x == 0xFFFFFFFF) x = 0;
            if ((x & 1) == 0 && (x & 6) == 4)
            {
                if (j + 1 >= count) return 0; // libpci warns and leaves it unset
                if (j == i) return x | (ulong)_c.U32(0x10 + 4 * (j + 1)) << 32;
                if (j + 1 == i) return 0;
                j++;
                continue;
            }
            if (j == i) return x;
        }
        return 0;
    }

    void ShowRom(int reg)
    {
        var info = _dev.Info;
        uint flg = _c.U32(reg);
        ulong rom, len = 0;
        if (info != null)
        {
            rom = info.Rom.Size != 0 ? info.Rom.Base : 0;
            len = info.Rom.Size;
        }
        else rom = flg == 0xFFFFFFFF ? 0 : flg;
        ushort cmd = _c.Command;
        bool virt = false;
        if (rom == 0 && flg == 0 && len == 0) return;
        if ((rom & ~0x7FFUL) != 0 && (flg & ~0x7FFu) == 0)
        {
            flg = (uint)rom;
            virt = true;
        }
        P("\tExpansion ROM at ");
        if ((rom & ~0x7FFUL) != 0) P((rom & ~0x7FFUL).ToString("x8", CultureInfo.InvariantCulture));
        else if ((flg & ~0x7FFu) != 0) P("<ignored>");
        else P("<unassigned>");
        if (virt) P(" [virtual]");
        if ((flg & 1) == 0) P(" [disabled]");
        else if (!virt && (cmd & 2) == 0) P(" [disabled by cmd]");
        Size(_sb, len);
        P("\n");
    }

    void ShowRange(string prefix, ulong @base, ulong limit, int bits, bool disabled)
    {
        P($"{prefix}:");
        int digits = (bits + 3) / 4;
        if (@base <= limit || Verbose > 2)
            P($" {@base.ToString("x" + digits, CultureInfo.InvariantCulture)}-{limit.ToString("x" + digits, CultureInfo.InvariantCulture)}");
        if (!disabled && @base <= limit) Size(_sb, limit - @base + 1);
        else P(" [disabled]");
        if (bits != 0) P($" [{bits}-bit]");
        P("\n");
    }

    void ShowType1()
    {
        uint ioBase = _c.U8(0x1C), ioLimit = _c.U8(0x1D);
        uint ioType = ioBase & 0xF;
        uint memBase = _c.U16(0x20), memLimit = _c.U16(0x22);
        uint memType = memBase & 0xF;
        uint prefBase = _c.U16(0x24), prefLimit = _c.U16(0x26);
        uint prefType = prefBase & 0xF;
        ushort secStat = _c.U16(0x1E), brc = _c.U16(0x3E);

        ShowBases(2);
        P($"\tBus: primary={X(_c.U8(0x18), 2)}, secondary={X(_c.U8(0x19), 2)}, subordinate={X(_c.U8(0x1A), 2)}, sec-latency={_c.U8(0x1B)}\n");

        if (ioType != (ioLimit & 0xF) || (ioType != 0 && ioType != 1))
            P($"\t!!! Unknown I/O range types {X(ioBase, 0)}/{X(ioLimit, 0)}\n");
        else
        {
            uint b = (ioBase & 0xF0) << 8, l = (ioLimit & 0xF0) << 8;
            if (ioType == 1)
            {
                b |= (uint)_c.U16(0x30) << 16;
                l |= (uint)_c.U16(0x32) << 16;
            }
            ShowRange("\tI/O behind bridge", b, l + 0xFFF, ioType == 1 ? 32 : 16, false);
        }

        if (memType != (memLimit & 0xF) || memType != 0)
            P($"\t!!! Unknown memory range types {X(memBase, 0)}/{X(memLimit, 0)}\n");
        else
            ShowRange("\tMemory behind bridge", (memBase & 0xFFF0) << 16, ((memLimit & 0xFFF0) << 16) + 0xFFFFFUL, 32, false);

        if (prefType != (prefLimit & 0xF) || (prefType != 0 && prefType != 1))
            P($"\t!!! Unknown prefetchable memory range types {X(prefBase, 0)}/{X(prefLimit, 0)}\n");
        else
        {
            ulong b = (ulong)(prefBase & 0xFFF0) << 16, l = (ulong)(prefLimit & 0xFFF0) << 16;
            if (prefType == 1)
            {
                b |= (ulong)_c.U32(0x28) << 32;
                l |= (ulong)_c.U32(0x2C) << 32;
            }
            ShowRange("\tPrefetchable memory behind bridge", b, l + 0xFFFFF, prefType == 1 ? 64 : 32, false);
        }

        if (Verbose > 1)
            P($"\tSecondary status: 66MHz{F(secStat, 0x20)} FastB2B{F(secStat, 0x80)} ParErr{F(secStat, 0x100)} DEVSEL={DevSel(secStat)} >TAbort{F(secStat, 0x800)} <TAbort{F(secStat, 0x1000)} <MAbort{F(secStat, 0x2000)} <SERR{F(secStat, 0x4000)} <PERR{F(secStat, 0x8000)}\n");
        ShowRom(0x38);
        if (Verbose > 1)
        {
            P($"\tBridgeCtl: Parity{F(brc, 1)} SERR{F(brc, 2)} NoISA{F(brc, 4)} VGA{F(brc, 8)} VGA16{F(brc, 0x10)} MAbort{F(brc, 0x20)} >Reset{F(brc, 0x40)} FastB2B{F(brc, 0x80)}\n");
            P($"\t\tPriDiscTmr{F(brc, 0x100)} SecDiscTmr{F(brc, 0x200)} DiscTmrStat{F(brc, 0x400)} DiscTmrSERREn{F(brc, 0x800)}\n");
        }
        ShowCaps(0x34);
    }

    void ShowType2()
    {
        ushort cmd = _c.Command, brc = _c.U16(0x3E);
        bool verb = Verbose > 2;
        ShowBases(1);
        P($"\tBus: primary={X(_c.U8(0x18), 2)}, secondary={X(_c.U8(0x19), 2)}, subordinate={X(_c.U8(0x1A), 2)}, sec-latency={_c.U8(0x1B)}\n");
        for (int i = 0; i < 2; i++)
        {
            uint b = _c.U32(0x1C + 8 * i), l = _c.U32(0x20 + 8 * i) + 0xFFF;
            if (b <= l || verb)
                P($"\tMemory window {i}: {X(b, 8)}-{X(l, 8)}{((cmd & 2) != 0 ? "" : " [disabled]")}{((brc & (0x100 << i)) != 0 ? " (prefetchable)" : "")}\n");
        }
        for (int i = 0; i < 2; i++)
        {
            uint b = _c.U32(0x2C + 8 * i), l = _c.U32(0x30 + 8 * i);
            if ((b & 1) == 0)
            {
                b &= 0xFFFF;
                l &= 0xFFFF;
            }
            b &= ~3u;
            l = (l & ~3u) + 3;
            if (b <= l || verb)
                P($"\tI/O window {i}: {X(b, 8)}-{X(l, 8)}{((cmd & 1) != 0 ? "" : " [disabled]")}\n");
        }
        if ((_c.U16(0x16) & 0x4000) != 0) P("\tSecondary status: SERR\n");
        if (Verbose > 1)
            P($"\tBridgeCtl: Parity{F(brc, 1)} SERR{F(brc, 2)} ISA{F(brc, 4)} VGA{F(brc, 8)} MAbort{F(brc, 0x20)} >Reset{F(brc, 0x40)} 16bInt{F(brc, 0x80)} PostWrite{F(brc, 0x400)}\n");
        ushort exca = _c.U16(0x44);
        if (exca != 0) P($"\t16-bit legacy interface ports at {X(exca, 4)}\n");
        ShowCaps(0x14);
    }
}
