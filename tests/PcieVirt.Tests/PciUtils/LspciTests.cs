using PcieVirt.Fabric;
using PcieVirt.PciUtils;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.PciUtils.TestConfigs;

namespace PcieVirt.Tests.PciUtils;

/// <summary>
/// Decoding of known field values. Expected lines were checked against pciutils 3.9.0
/// (<c>lspci -F</c> on the same bytes) and against the register layouts of PCIe Base Spec ch. 7.
/// </summary>
[TestFixture]
public class LspciTests
{
    static RawConfigAccessor Topology() => new RawConfigAccessor()
        .Add(At(0, 1, 0), RootPort())
        .Add(At(1, 0, 0), Endpoint());

    [Test]
    public void Terse_line_has_class_names_and_revision()
    {
        var text = Ours.Lspci(Topology(), "-s", "01:00.0");
        Assert.That(text, Is.EqualTo("01:00.0 Ethernet controller: Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection (rev 01)\n"));
    }

    [Test]
    public void Numeric_modes_follow_pciutils()
    {
        Assert.That(Ours.Lspci(Topology(), "-n", "-s", "01:00.0"), Is.EqualTo("01:00.0 0200: 8086:10fb (rev 01)\n"));
        Assert.That(Ours.Lspci(Topology(), "-nn", "-s", "01:00.0"), Does.StartWith("01:00.0 Ethernet controller [0200]: Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection [8086:10fb]"));
    }

    [Test]
    public void Type0_bars_rom_and_command_status()
    {
        var text = Ours.Lspci(Topology(), "-vv", "-s", "01:00.0");
        Assert.That(text, Does.Contain("\tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr+ Stepping- SERR+ FastB2B- DisINTx-\n"));
        Assert.That(text, Does.Contain("\tInterrupt: pin A routed to IRQ 11\n"));
        // BAR0/1 = 0x20_f000000c: 64-bit prefetchable; the upper half is a register of its own for lspci 3.9.
        Assert.That(text, Does.Contain("\tRegion 0: Memory at 20f0000000 (64-bit, prefetchable)\n"));
        Assert.That(text, Does.Contain("\tRegion 2: Memory at e0000000 (32-bit, non-prefetchable)\n"));
        Assert.That(text, Does.Contain("\tRegion 3: I/O ports at e000 [disabled]\n"));
        Assert.That(text, Does.Contain("\tExpansion ROM at fe000000\n"));
    }

    [Test]
    public void Sizes_come_from_the_host_description()
    {
        var bars = new BarResource[6];
        bars[0] = new BarResource(0x20f000000c, 0x40_0000);
        bars[2] = new BarResource(0xe0000000, 0x4000);
        bars[3] = new BarResource(0xe001, 0x20);
        var host = new RawConfigAccessor().Add(At(1, 0, 0), Endpoint(), new FunctionInfo(bars, new BarResource(0xfe000000, 0x80000), Driver: "ixgbe"));
        var text = Ours.Lspci(host, "-vv");
        Assert.That(text, Does.Contain("\tRegion 0: Memory at 20f0000000 (64-bit, prefetchable) [size=4M]\n"));
        Assert.That(text, Does.Contain("\tRegion 2: Memory at e0000000 (32-bit, non-prefetchable) [size=16K]\n"));
        Assert.That(text, Does.Contain("\tRegion 3: I/O ports at e000 [disabled] [size=32]\n"));
        Assert.That(text, Does.Contain("\tExpansion ROM at fe000000 [size=512K]\n"));
        Assert.That(text, Does.Contain("\tKernel driver in use: ixgbe\n"));
    }

    [Test]
    public void Virtual_function_regions_are_marked_virtual()
    {
        // A VF's BARs read 0 (SR-IOV: the PF's VF BARs define them); the OS still assigns them.
        var vf = new byte[4096];
        W(vf, 0, 4, 0xffffffff);
        W(vf, 4, 2, 0x0002);
        W(vf, 9, 3, 0x020000);
        var bars = new BarResource[6];
        bars[0] = new BarResource(0x800000000c, 0x4000);
        var host = new RawConfigAccessor().Add(At(1, 0x10, 0), vf, new FunctionInfo(bars, IsVirtualFunction: true, PhysicalFunction: At(1, 0, 0)));
        Assert.That(Ours.Lspci(host, "-vv"), Does.Contain("\tRegion 0: Memory at 8000000000 (64-bit, prefetchable) [virtual] [size=16K]\n"));
    }

    [Test]
    public void Bridge_windows_and_control()
    {
        var text = Ours.Lspci(Topology(), "-vv", "-s", "00:01.0");
        Assert.That(text, Does.Contain("\tBus: primary=00, secondary=01, subordinate=03, sec-latency=0\n"));
        Assert.That(text, Does.Contain("\tI/O behind bridge: e000-efff [size=4K] [16-bit]\n"));
        Assert.That(text, Does.Contain("\tMemory behind bridge: e0000000-e0ffffff [size=16M] [32-bit]\n"));
        Assert.That(text, Does.Contain("\tPrefetchable memory behind bridge: 00000000f0000000-00000000f1ffffff [size=32M] [64-bit]\n"));
        Assert.That(text, Does.Contain("\tBridgeCtl: Parity+ SERR+ NoISA- VGA- VGA16+ MAbort- >Reset- FastB2B-\n"));
        Assert.That(text, Does.Contain("\tSubsystem: Device 1234:5678\n"), "a bridge's subsystem comes from its SSVID capability");
    }

    [Test]
    public void Capabilities_pm_msi_msix()
    {
        var text = Ours.Lspci(Topology(), "-vv", "-s", "01:00.0");
        Assert.That(text, Does.Contain("\tCapabilities: [40] Power Management version 3\n\t\tFlags: PMEClk- DSI- D1- D2- AuxCurrent=375mA PME(D0+,D1-,D2-,D3hot+,D3cold+)\n\t\tStatus: D0 NoSoftRst+ PME-Enable+ DSel=0 DScale=0 PME-\n"));
        Assert.That(text, Does.Contain("\tCapabilities: [50] MSI: Enable+ Count=4/4 Maskable+ 64bit+\n\t\tAddress: 00000001fee00000  Data: 4021\n\t\tMasking: 000000fe  Pending: 00000001\n"));
        Assert.That(text, Does.Contain("\tCapabilities: [b0] MSI-X: Enable+ Count=64 Masked-\n\t\tVector table: BAR=2 offset=00002000\n\t\tPBA: BAR=2 offset=00003000\n"));
    }

    [Test]
    public void Express_endpoint_device_and_link()
    {
        var text = Ours.Lspci(Topology(), "-vv", "-s", "01:00.0");
        Assert.That(text, Does.Contain("\tCapabilities: [70] Express (v2) Endpoint, MSI 00\n"));
        Assert.That(text, Does.Contain("\t\tDevCap:\tMaxPayload 512 bytes, PhantFunc 0, Latency L0s unlimited, L1 unlimited\n\t\t\tExtTag- AttnBtn- AttnInd- PwrInd- RBE+ FLReset+ SlotPowerLimit 0W\n"));
        Assert.That(text, Does.Contain("\t\t\tMaxPayload 256 bytes, MaxReadReq 4096 bytes\n"));
        Assert.That(text, Does.Contain("\t\tLnkCap:\tPort #0, Speed 8GT/s, Width x8, ASPM L0s L1, Exit Latency L0s unlimited, L1 unlimited\n"));
        Assert.That(text, Does.Contain("\t\tDevCtl2: Completion Timeout: 16ms to 55ms, TimeoutDis- LTR- 10BitTagReq- OBFF Disabled,\n\t\t\t AtomicOpsCtl: ReqEn+\n"));
    }

    [Test]
    public void Express_root_port_slot_and_root_registers()
    {
        var text = Ours.Lspci(Topology(), "-vv", "-s", "00:01.0");
        Assert.That(text, Does.Contain("\tCapabilities: [40] Express (v2) Root Port (Slot+), MSI 00\n"));
        Assert.That(text, Does.Contain("\t\t\tSlot #5, PowerLimit 0W; Interlock- NoCompl+\n"));
        Assert.That(text, Does.Contain("\t\t\tControl: AttnInd Off, PwrInd Off, Power+ Interlock-\n"));
        Assert.That(text, Does.Contain("\t\tRootSta: PME ReqID 0100, PMEStatus+ PMEPending+\n"));
        Assert.That(text, Does.Contain("\t\tLnkCap2: Supported Link Speeds: 2.5-16GT/s, Crosslink- Retimer- 2Retimers- DRS+\n"));
        Assert.That(text, Does.Contain("\t\t\t Retimer- 2Retimers- CrosslinkRes: unsupported, DRS-\n\t\t\t DownstreamComp: Link Down - Not Determined\n"));
    }

    [Test]
    public void Extended_capabilities()
    {
        var text = Ours.Lspci(Topology(), "-vv", "-s", "01:00.0");
        Assert.That(text, Does.Contain("\t\tUESta:\tDLP+ SDES- TLP- FCP- CmpltTO- CmpltAbrt- UnxCmplt- RxOF- MalfTLP- ECRC- UnsupReq+ ACSViol-\n"));
        Assert.That(text, Does.Contain("\t\tAERCap:\tFirst Error Pointer: 1f, ECRCGenCap+ ECRCGenEn+ ECRCChkCap+ ECRCChkEn+\n"));
        Assert.That(text, Does.Contain("\tCapabilities: [148 v1] Device Serial Number 9a-bc-de-f0-12-34-56-78\n"));
        Assert.That(text, Does.Contain("\t\tARICap:\tMFVC+ ACS+, Next Function: 2\n"));
        Assert.That(text, Does.Contain("\t\tIOVCap:\tMigration+ 10BitTagReq+ Interrupt Message Number: 001\n"));
        Assert.That(text, Does.Contain("\t\tInitial VFs: 64, Total VFs: 64, Number of VFs: 8, Function Dependency Link: 00\n"));
        Assert.That(text, Does.Contain("\t\tVF offset: 128, stride: 2, Device ID: 10ed\n"));
        Assert.That(text, Does.Contain("\t\tRegion 0: Memory at 0000008000000000 (64-bit, prefetchable)\n"));
        Assert.That(text, Does.Contain("\t\tVF Migration: offset: 00001230, BIR: 3\n"));
        Assert.That(text, Does.Contain("\tCapabilities: [1b8 v1] Extended Capability ID 0x99\n"));
        Assert.That(Ours.Lspci(Topology(), "-vv", "-s", "00:01.0"), Does.Contain("\t\tRootSta: CERcvd+ MultCERcvd+ UERcvd+ MultUERcvd+\n\t\t\t FirstFatal+ NonFatalMsg+ FatalMsg+ IntMsg 0\n"));
    }

    [Test]
    public void Tree_follows_bridge_bus_numbers()
    {
        var host = new RawConfigAccessor()
            .Add(At(0, 1, 0), RootPort(1, 3))
            .Add(At(1, 0, 0), SwitchPort(true, 1, 2, 3))
            .Add(At(2, 0, 0), SwitchPort(false, 2, 3, 3))
            .Add(At(3, 0, 0), Endpoint());
        Assert.That(Ours.Lspci(host, "-t"), Is.EqualTo("-[0000:00]---01.0-[01-03]----00.0-[02-03]----00.0-[03]----00.0\n"));
    }

    [Test]
    public void Hex_dump_levels()
    {
        var text = Ours.Lspci(Topology(), "-x", "-s", "01:00.0");
        Assert.That(text.Split('\n'), Has.Length.EqualTo(1 + 4 + 2));
        Assert.That(text, Does.Contain("\n00: 86 80 fb 10 46 01 10 00 01 00 00 02 10 00 80 00\n"));
        Assert.That(Ours.Lspci(Topology(), "-xxxx", "-s", "01:00.0"), Does.Contain("\n100: 01 00 82 14 11 00 10 00"));
    }

    [Test]
    public void Bad_options_and_selectors_give_usage_errors()
    {
        var e = new StringWriter();
        Assert.That(Lspci.Run(["-s", "zz"], [Topology()], new StringWriter(), e), Is.EqualTo(1));
        Assert.That(e.ToString(), Is.EqualTo("lspci: -s: Invalid slot number\n"));
        e = new StringWriter();
        Assert.That(Lspci.Run(["-q"], [Topology()], new StringWriter(), e), Is.EqualTo(1));
        Assert.That(e.ToString(), Does.StartWith("lspci: invalid option -- 'q'\n"));
    }

    [Test]
    public void Multiple_hosts_are_merged_and_domains_shown()
    {
        var a = new RawConfigAccessor("a").Add(At(0, 0, 0), Endpoint());
        var b = new RawConfigAccessor("b").Add(At(0, 0, 0, segment: 1), Endpoint());
        var o = new StringWriter();
        Lspci.Run([], [b, a], o, new StringWriter());
        Assert.That(o.ToString(), Does.StartWith("0000:00:00.0 Ethernet").And.Contain("\n0001:00:00.0 Ethernet"));
    }
}
