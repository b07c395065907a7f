using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.Fabric.FabricTestKit;

namespace PcieVirt.Tests.Fabric;

[TestFixture]
public class ConfigRoutingTests
{
    static ulong Ecam(int bus, int dev, int fn, int reg) =>
        EcamBase + ((ulong)bus << 20) + ((ulong)dev << 15) + ((ulong)fn << 12) + (ulong)reg;

    [Test]
    public void EcamOffset_DecodesBusDeviceFunctionAndRegister()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.EcamRead(Ecam(0, 2, 0, 0), 4, out uint id), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(id, Is.EqualTo(0x0100_1B36u), "vendor 1b36, device 0100 of 00:02.0");
        Assert.That(t.Rc.EcamRead(Ecam(3, 0, 2, 2), 2, out uint dev), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(dev, Is.EqualTo(0x0A02u), "device ID of 03:00.2");
        Assert.That(t.Rc.EcamRead(Ecam(3, 0, 0, 0x0E), 1, out uint ht), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(ht, Is.EqualTo(0x80u), "function 0 of a 3-function device has the multi-function bit");
        Assert.That(t.Rc.EcamRead(Ecam(3, 0, 1, 0x0E), 1, out uint ht1), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(ht1, Is.EqualTo(0x00u));
        Assert.That(t.Rc.EcamAddress(new Bdf(3, 0, 2), 2), Is.EqualTo(Ecam(3, 0, 2, 2)));
    }

    [Test]
    public void EcamWrite_ReachesTheRegisterWithMaskSemantics()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.EcamWrite(Ecam(4, 0, 0, 0x10), 4, 0xFFFF_FFFF), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(t.B.Config.Read32(0x10), Is.EqualTo(0xFFFF_F000u), "4 KiB 32-bit BAR sizing mask");
        t.Rc.EcamWrite(Ecam(4, 0, 0, 0x00), 2, 0x1234);
        Assert.That(t.B.Config.Read16(0), Is.EqualTo(0x1B36), "Vendor ID is read-only");
    }

    [TestCase(0xE000_0001UL, 2)]
    [TestCase(0xE000_0002UL, 4)]
    [TestCase(0xE000_0000UL, 8)]
    [TestCase(0xE000_0000UL, 3)]
    [TestCase(0xDFFF_FFFCUL, 4)]
    [TestCase(0xF000_0000UL, 4)]
    public void BadEcamAccess_CompletesUrWithAllOnesAndNoException(ulong address, int width)
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.EcamRead(address, width, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(v, Is.EqualTo(width >= 4 ? 0xFFFF_FFFFu : (1u << (8 * width)) - 1));
        Assert.That(t.Rc.EcamWrite(address, width, 0), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void MisalignedEcamWrite_ChangesNothing()
    {
        var t = new SwitchTopology().ProgramBuses();
        t.Rc.EcamWrite(Ecam(0, 2, 0, 0x3D), 2, 0x5555); // straddles Interrupt Pin/Min_Gnt: not a legal access
        t.Rc.EcamWrite(Ecam(0, 2, 0, 0x3B), 2, 0x5555);
        Assert.That(t.Rciep.Config.Read8(PciRegs.InterruptLine), Is.EqualTo(0xFF));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(4)]
    public void NonexistentFunction_ReadsAllOnes_WritesAreDropped(int width)
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.Read(At(0, 7, 0), 0, width, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(v, Is.EqualTo(width == 4 ? 0xFFFF_FFFFu : (1u << (8 * width)) - 1));
        Assert.That(t.Rc.Read(At(3, 0, 5), 0, width, out v), Is.EqualTo(CompletionStatus.UnsupportedRequest), "no function 5 on device 03:00");
        Assert.That(t.Rc.Write(At(3, 0, 5), 0x3C, 1, 0x12), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(t.Rc.Read(At(9, 0, 0), 0, width, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest), "no bridge forwards bus 9");
        foreach (var f in new[] { t.A0, t.A1, t.A2 })
            Assert.That(f.Config.Read8(PciRegs.InterruptLine), Is.EqualTo(0xFF), "no function's state changed");
    }

    [Test]
    public void BeforeBusNumbersAreProgrammed_OnlyTheRootBusAnswers()
    {
        var t = new SwitchTopology();
        Assert.That(t.Rc.Functions(), Is.EqualTo(new[] { At(0, 2, 0), At(0, 0x1c, 0), At(0, 0x1d, 0) }));
        Assert.That(t.Rc.Read(At(1, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
    }

    [Test]
    public void Type1Routing_ReachesEveryFunctionThroughRootPortAndSwitch()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.Functions(), Is.EqualTo(new[]
        {
            At(0, 2, 0), At(0, 0x1c, 0), At(0, 0x1d, 0),
            At(1, 0, 0),
            At(2, 0, 0), At(2, 1, 0),
            At(3, 0, 0), At(3, 0, 1), At(3, 0, 2),
            At(4, 0, 0),
            At(5, 0, 0),
        }));
        Assert.That(t.A2.Bdf, Is.EqualTo(new Bdf(3, 0, 2)));
        Assert.That(t.Switch.UpstreamPort.Bdf, Is.EqualTo(new Bdf(1, 0, 0)));
        Assert.That(t.Dsp1.Function.Bdf, Is.EqualTo(new Bdf(2, 1, 0)));
        Assert.That(CfgRead(t.Rc, new Bdf(5, 0, 0), 2, 2), Is.EqualTo(0x0C00u));
        Assert.That(t.Rc.FindFunction(new Bdf(4, 0, 0)), Is.SameAs(t.B));
    }

    [Test]
    public void BusRangeOfABridge_BoundsWhatItForwards()
    {
        var t = new SwitchTopology().ProgramBuses();
        // Shrink the switch's range so bus 4 is no longer below it: downstream port 1's device disappears.
        Buses(t.Rc, t.Rp0.Function, 0, 1, 3);
        Assert.That(t.Rc.Read(At(4, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(t.Rc.Read(At(3, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    /// <summary>
    /// The switch topology plus root port 00:1e.0 (ARI Forwarding Supported, not enabled) with a
    /// 10-function device on bus 6: functions 8 and 9 are reachable only as ARI functions (§6.13).
    /// </summary>
    static (SwitchTopology T, RootPort Rp) TenFunctionsBelowAnAriCapableRootPort()
    {
        var t = new SwitchTopology();
        var many = Enumerable.Range(0, 10).Select(i => Endpoint($"x{i}", (ushort)(0x100 + i))).ToArray();
        var rp = t.Rc.AddRootPort(0x1e, 0, Port("rp2", BridgePortKind.RootPort, ariForwardingSupported: true));
        rp.ConnectDevice(many);
        t.ProgramBuses();
        Buses(t.Rc, rp.Function, 0, 6, 6);
        return (t, rp);
    }

    [Test]
    public void DeviceOtherThanZeroBelowADownstreamPort_IsUr()
    {
        var (t, rp) = TenFunctionsBelowAnAriCapableRootPort();
        Assert.That(t.Rc.Read(At(6, 0, 7), 0, 2, out uint v7), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(v7, Is.EqualTo(0x1B36u));
        Assert.That(t.Rc.Read(At(6, 1, 0), 0, 2, out uint v8), Is.EqualTo(CompletionStatus.UnsupportedRequest),
            "function number 8 is device 1 without ARI: the port must UR it");
        Assert.That(v8, Is.EqualTo(0xFFFFu));
        Assert.That(SwitchTopology.DeviceStatus(rp.Function) & 0x8, Is.EqualTo(0x8), "the port detected the UR");
        Assert.That(t.SecondaryStatus(rp.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Zero,
            "the request never went down the link, so no UR completion was received");
        Assert.That(t.Rc.Functions().Count(a => a.Bdf.Bus == 6), Is.EqualTo(8));
    }

    [Test]
    public void AriForwardingEnable_LetsTheEightBitFunctionNumberThrough()
    {
        var (t, rp) = TenFunctionsBelowAnAriCapableRootPort();
        int devCtl2 = CapabilityWalker.FindCapability(t.Rc, new PciAddress(0, rp.Function.Bdf), 0x10) + 0x28;
        Cfg(t.Rc, rp.Function.Bdf, devCtl2, 2, 1 << 5);
        Assert.That(t.Rc.Read(At(6, 1, 1), 2, 2, out uint dev9), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        Assert.That(dev9, Is.EqualTo(0x109u), "06:01.1 is ARI function 9");
        Assert.That(t.Rc.Functions().Count(a => a.Bdf.Bus == 6), Is.EqualTo(10));
        Cfg(t.Rc, rp.Function.Bdf, devCtl2, 2, 0);
        Assert.That(t.Rc.Read(At(6, 1, 1), 2, 2, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest), "routing follows the bit live");
    }

    [Test]
    public void PortWithoutPcieCapability_NeverForwardsDeviceNumbersOtherThanZero()
    {
        var rc = NewRootComplex();
        var rp = rc.AddRootPort(1, 0, PlainPort("rp", BridgePortKind.RootPort));
        rp.ConnectDevice(Enumerable.Range(0, 9).Select(i => Endpoint($"x{i}")).ToArray());
        Buses(rc, rp.Function, 0, 1, 1);
        Assert.That(rc.Read(At(1, 1, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(rc.Read(At(1, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    [Test]
    public void DevicesOtherThanZeroOnASwitchInternalBus_AreReachable()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.Read(At(2, 1, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    [Test]
    public void ChangingBusNumbers_MovesTheFunctions()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.C.Bdf, Is.EqualTo(new Bdf(5, 0, 0)));
        Buses(t.Rc, t.Rp1.Function, 0, 0x20, 0x20);
        Assert.That(t.C.Bdf, Is.EqualTo(new Bdf(0x20, 0, 0)));
        Assert.That(t.Rc.Read(At(5, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(CfgRead(t.Rc, new Bdf(0x20, 0, 0), 2, 2), Is.EqualTo(0x0C00u));
        Assert.That(t.Rc.Functions(), Does.Contain(At(0x20, 0, 0)).And.Not.Contain(At(5, 0, 0)));

        // Renumbering the switch's upstream port moves the downstream ports, and so on down.
        Buses(t.Rc, t.Rp0.Function, 0, 1, 0x14);
        Buses(t.Rc, t.Switch.UpstreamPort, 1, 0x10, 0x14);
        Buses(t.Rc, t.Dsp0.Function, 0x10, 0x11, 0x11);
        Assert.That(t.Dsp0.Function.Bdf, Is.EqualTo(new Bdf(0x10, 0, 0)));
        Assert.That(t.A1.Bdf, Is.EqualTo(new Bdf(0x11, 0, 1)));
        Assert.That(CfgRead(t.Rc, new Bdf(0x11, 0, 1), 2, 2), Is.EqualTo(0x0A01u));
    }

    [Test]
    public void ResettingABridge_ClearsItsBusNumbersAndRouting()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.Rc.Read(At(5, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
        t.Rp1.Function.Reset(ResetKind.Hot);
        Assert.That(t.Rc.Read(At(5, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        t.Rc.Reset();
        Assert.That(t.Rc.Functions(), Has.Count.EqualTo(3));
    }

    [Test]
    public void UrFromBelowARootPort_SetsReceivedMasterAbortInItsSecondaryStatus()
    {
        var t = new SwitchTopology().ProgramBuses();
        Assert.That(t.SecondaryStatus(t.Rp0.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Zero);
        t.Rc.Read(At(3, 0, 4), 0, 4, out _); // device present, function 4 absent: the device completes UR
        Assert.That(t.SecondaryStatus(t.Rp0.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Not.Zero);
        Assert.That(t.SecondaryStatus(t.Dsp0.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Zero,
            "switch ports forward the completion; they are not its requester");
        // RW1C: software clears it.
        Cfg(t.Rc, t.Rp0.Function.Bdf, PciRegs.SecondaryStatus, 2, (uint)PciStatus.ReceivedMasterAbort);
        Assert.That(t.SecondaryStatus(t.Rp0.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Zero);

        t.Rc.Read(At(0, 9, 0), 0, 4, out _); // the root complex itself completes it
        Assert.That(t.SecondaryStatus(t.Rp0.Function) | t.SecondaryStatus(t.Rp1.Function), Is.Zero);
    }

    [Test]
    public void UrOnASwitchInternalBus_IsDetectedByTheSwitch()
    {
        var t = new SwitchTopology().ProgramBuses();
        t.Rc.Read(At(2, 5, 0), 0, 4, out _);
        Assert.That(SwitchTopology.DeviceStatus(t.Switch.UpstreamPort) & 0x8, Is.EqualTo(0x8));
        Assert.That(t.SecondaryStatus(t.Rp0.Function) & (ushort)PciStatus.ReceivedMasterAbort, Is.Not.Zero);
    }

    [Test]
    public void EmptyLink_PortCompletesUrItself()
    {
        var rc = NewRootComplex();
        var rp = rc.AddRootPort(1, 0, Port("rp", BridgePortKind.RootPort));
        Buses(rc, rp.Function, 0, 1, 1);
        Assert.That(rc.Read(At(1, 0, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(SwitchTopology.DeviceStatus(rp.Function) & 0x8, Is.EqualTo(0x8));
        Assert.That(rp.Function.Config.Read16(PciRegs.SecondaryStatus) & (ushort)PciStatus.ReceivedMasterAbort, Is.Zero);
    }

    [Test]
    public void FunctionsAddedAndRemovedAtRunTime_FollowRouting()
    {
        var t = new SwitchTopology().ProgramBuses();
        var late = Endpoint("late", 0x0D00);
        t.Rc.RootBus.AddFunction(0x1F << 3, late);
        Assert.That(late.Bdf, Is.EqualTo(new Bdf(0, 0x1F, 0)));
        Assert.That(late.Upstream, Is.Not.Null);
        Assert.That(CfgRead(t.Rc, late.Bdf, 2, 2), Is.EqualTo(0x0D00u));
        Assert.That(t.Rc.RootBus.RemoveFunction(0x1F << 3), Is.True);
        Assert.That(late.Upstream, Is.Null);
        Assert.That(t.Rc.Read(At(0, 0x1F, 0), 0, 4, out _), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(() => t.Rc.RootBus.AddFunction(2 << 3, Endpoint("clash")), Throws.ArgumentException);
    }

    [Test]
    public void FunctionOnAnExtraBusNumberOfALink_IsReachedByType1()
    {
        var t = new SwitchTopology().ProgramBuses();
        Buses(t.Rc, t.Rp1.Function, 0, 5, 6);
        var vf = Endpoint("vf-like", 0x0E00);
        t.Rp1.SecondaryBus.AddFunctionAt(new BusPlacement(1, 0x10), vf);
        Assert.That(vf.Bdf, Is.EqualTo(new Bdf(6, 2, 0)));
        Assert.That(CfgRead(t.Rc, new Bdf(6, 2, 0), 2, 2), Is.EqualTo(0x0E00u));
        Assert.That(t.Rc.Functions(), Does.Contain(At(6, 2, 0)));
        Assert.That(t.C.Config.Read8(PciRegs.HeaderType) & 0x80, Is.Zero, "functions on other bus numbers do not make the device multi-function");
        Buses(t.Rc, t.Rp1.Function, 0, 7, 8);
        Assert.That(vf.Bdf, Is.EqualTo(new Bdf(8, 2, 0)), "it moves with the link's bus number");
    }

    [Test]
    public void SegmentMismatch_IsUr()
    {
        var t = new SwitchTopology();
        Assert.That(t.Rc.Read(new PciAddress(1, new Bdf(0, 2, 0)), 0, 4, out uint v), Is.EqualTo(CompletionStatus.UnsupportedRequest));
        Assert.That(v, Is.EqualTo(0xFFFF_FFFFu));
    }

    [Test]
    public void DeviceModelFault_CompletesCompleterAbort_WithoutEscaping()
    {
        var rc = NewRootComplex();
        var f = new EndpointFunction("faulty", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 1 });
        f.AddCapability(new ThrowingCapability());
        f.Seal();
        rc.AddIntegratedEndpoint(1, 0, f);
        int at = CapabilityWalker.FindCapability(f.Config, 0x09);
        Assert.That(rc.Write(At(0, 1, 0), at + 4, 4, 1), Is.EqualTo(CompletionStatus.CompleterAbort));
        Assert.That(rc.Read(At(0, 1, 0), 0, 2, out _), Is.EqualTo(CompletionStatus.SuccessfulCompletion));
    }

    [Test]
    public void Trace_LogsEachConfigTlpWithItsFields()
    {
        var capture = new RecordingLogger();
        using var factory = RecordingLogger.Factory(capture, LogLevel.Trace);
        var t = new SwitchTopology(factory).ProgramBuses();
        capture.Entries.Clear();
        t.Rc.Read(At(3, 0, 1), 0x10, 4, out _);
        t.Rc.Write(At(0, 2, 0), 0x3C, 1, 0x0B);
        t.Rc.Read(At(3, 0, 6), 0x00, 2, out _);
        var tlps = capture.Entries.Where(e => e.Category == RootComplex.TlpLogCategory).Select(e => e.Message).ToList();
        Assert.That(tlps, Has.Count.EqualTo(3));
        Assert.That(tlps[0], Is.EqualTo("CfgRd1 requester=00:00.0 target=03:00.1 register=0x010 be=0xf data=0x00000000 status=SC"));
        Assert.That(tlps[1], Is.EqualTo("CfgWr0 requester=00:00.0 target=00:02.0 register=0x03c be=0x1 data=0x0000000b status=SC"));
        Assert.That(tlps[2], Is.EqualTo("CfgRd1 requester=00:00.0 target=03:00.6 register=0x000 be=0x3 data=0x0000ffff status=UR"));
        Assert.That(capture.Entries.Any(e => e.Category == RootComplex.LogCategory && e.Level == LogLevel.Debug
            && e.Message.Contains("Unsupported Request")), Is.True, "the UR is logged at Debug");
    }

    [Test]
    public void Trace_IsSilentWhenTraceLevelIsOff()
    {
        var capture = new RecordingLogger();
        using var factory = RecordingLogger.Factory(capture, LogLevel.Debug);
        var t = new SwitchTopology(factory).ProgramBuses();
        t.Rc.Read(At(3, 0, 1), 0x10, 4, out _);
        Assert.That(capture.Entries.Any(e => e.Category == RootComplex.TlpLogCategory), Is.False);
    }

    [Test]
    public void ConfigTlp_ByteLanesFollowTheOffset()
    {
        var tlp = new ConfigTlp(ConfigTlpType.CfgWr1, new Bdf(0, 0, 0), new Bdf(1, 2, 3), 0x106, 2, 0xBEEF, CompletionStatus.SuccessfulCompletion);
        Assert.That(tlp.Register, Is.EqualTo(0x104));
        Assert.That(tlp.FirstByteEnables, Is.EqualTo(0b1100));
        Assert.That(tlp.Data, Is.EqualTo(0xBEEF_0000u));
        Assert.That(tlp.Offset, Is.EqualTo(0x106));
        Assert.That(tlp.Width, Is.EqualTo(2));
        Assert.That(tlp.IsWrite, Is.True);
    }

    [Test]
    public void BuildingApi_RejectsWrongPortKindsAndUnsealedFunctions()
    {
        var rc = NewRootComplex();
        Assert.That(() => rc.AddRootPort(1, 0, Port("x", BridgePortKind.SwitchDownstreamPort)), Throws.ArgumentException);
        var rp = rc.AddRootPort(1, 0, Port("rp", BridgePortKind.RootPort));
        var unsealed = new EndpointFunction("u", new FunctionIdentity { VendorId = 1 });
        Assert.That(() => rp.ConnectDevice(unsealed), Throws.ArgumentException);
        Assert.That(() => rp.ConnectDevice(Port("b", BridgePortKind.SwitchUpstreamPort)), Throws.ArgumentException);
        rp.ConnectDevice(Endpoint("e"));
        Assert.That(() => rp.ConnectDevice(Endpoint("e2")), Throws.InvalidOperationException);
        Assert.That(() => new RootComplex(Options() with { Mmio32 = new AddressRange(0xFEE0_0000, 0x10_0000) }), Throws.ArgumentException);
    }

    sealed class ThrowingCapability : PciStandardCapability
    {
        public override ushort Id => 0x09;
        public override int Length => 8;
        public override string Name => "throws";
        protected override void Layout(ConfigSpace config, int offset) => Def(4, 4, 0, rw: 0xFFFF_FFFF);
        protected override void OnWrite(int relativeOffset, int width, uint oldValue, uint written) =>
            throw new InvalidOperationException("device model bug");
    }
}
