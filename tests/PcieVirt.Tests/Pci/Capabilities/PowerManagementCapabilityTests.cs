using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class PowerManagementCapabilityTests
{
    static (PowerManagementCapability Pm, int At) Make(PowerManagementOptions o)
    {
        var pm = new PowerManagementCapability(o);
        Fn.Endpoint(pm);
        return (pm, pm.Offset);
    }

    [Test]
    public void Pmc_EncodesVersionStatesPmeAndAuxCurrent()
    {
        var (pm, at) = Make(new() { D1Support = true, PmeSupport = PmeSupport.D0 | PmeSupport.D3Hot | PmeSupport.D3Cold, AuxCurrentMilliamps = 375 });
        uint pmc = pm.Function.R(at + 2, 2);
        Assert.That(pmc & 7, Is.EqualTo(3u), "PM version 3");
        Assert.That((pmc >> 6) & 7, Is.EqualTo(7u), "375 mA encodes as 111b");
        Assert.That((pmc >> 9) & 3, Is.EqualTo(1u), "D1 only");
        Assert.That(pmc >> 11, Is.EqualTo(0b11001u), "PME from D0, D3hot, D3cold");
        pm.Function.W(at + 2, 2, 0);
        Assert.That(pm.Function.R(at + 2, 2), Is.EqualTo(pmc), "PMC is read-only");
    }

    [Test]
    public void PowerState_SupportedStateIsAccepted_UnsupportedWriteKeepsPreviousState()
    {
        var (pm, at) = Make(new() { D2Support = true });
        pm.Function.W(at + 4, 2, 2);
        Assert.That(pm.PowerState, Is.EqualTo(DevicePowerState.D2));
        pm.Function.W(at + 4, 2, 1); // D1 unsupported
        Assert.That(pm.PowerState, Is.EqualTo(DevicePowerState.D2));
        pm.Function.W(at + 4, 2, 3);
        Assert.That(pm.PowerState, Is.EqualTo(DevicePowerState.D3Hot));
    }

    [Test]
    public void NoSoftReset_Set_D3HotToD0KeepsConfiguration()
    {
        var (pm, at) = Make(new() { NoSoftReset = true });
        var f = pm.Function;
        f.W(0x04, 2, 0x6);
        f.W(at + 4, 2, 3);
        f.W(at + 4, 2, 0);
        Assert.That(f.R(0x04, 2), Is.EqualTo(0x6u));
        Assert.That(f.R(at + 4, 2) & 0x8, Is.EqualTo(0x8u), "No_Soft_Reset reads 1");
    }

    [Test]
    public void NoSoftReset_Clear_D3HotToD0ResetsFunction()
    {
        var (pm, at) = Make(new() { NoSoftReset = false });
        var f = pm.Function;
        f.W(0x04, 2, 0x6);
        f.W(at + 4, 2, 3);
        f.W(at + 4, 2, 0);
        Assert.That(f.R(0x04, 2), Is.EqualTo(0u), "Command back to default: D0uninitialized");
        Assert.That(pm.PowerState, Is.EqualTo(DevicePowerState.D0));
    }

    [Test]
    public void PmeEnAndStatus_StickyWithD3ColdPme_SurviveFlrNotFundamentalReset()
    {
        var (pm, at) = Make(new() { PmeSupport = PmeSupport.D3Hot | PmeSupport.D3Cold });
        var f = pm.Function;
        f.W(at + 4, 2, 0x0100 | 3); // PME_En, D3hot
        Assert.That(pm.SignalPme(), Is.True, "PME_En set: message sent");
        f.Reset(ResetKind.FunctionLevel);
        Assert.That(pm.PmeEnabled && pm.PmeStatus, Is.True);
        Assert.That(pm.PowerState, Is.EqualTo(DevicePowerState.D0), "PowerState is not sticky");
        f.Reset(ResetKind.Fundamental);
        Assert.That(pm.PmeEnabled || pm.PmeStatus, Is.False);
    }

    [Test]
    public void PmeStatus_IsWriteOneToClear()
    {
        var (pm, at) = Make(new() { PmeSupport = PmeSupport.D0 });
        pm.SignalPme();
        pm.Function.W(at + 4, 2, 0); // writing 0 leaves it
        Assert.That(pm.PmeStatus, Is.True);
        pm.Function.W(at + 4, 2, 0x8000);
        Assert.That(pm.PmeStatus, Is.False);
    }

    [Test]
    public void SignalPme_FromStateWithoutPmeSupport_DoesNothing()
    {
        var (pm, at) = Make(new() { PmeSupport = PmeSupport.D3Hot });
        Assert.That(pm.SignalPme(), Is.False);
        Assert.That(pm.PmeStatus, Is.False);
    }

    [Test]
    public void NoPmeSupport_PmeBitsReadZero()
    {
        var (pm, at) = Make(new());
        pm.Function.W(at + 4, 2, 0xFFFF);
        Assert.That(pm.Function.R(at + 4, 2), Is.EqualTo(0x8u | 3u), "only PowerState (D3hot) and No_Soft_Reset; Data_Select/Scale read 0");
    }

    [Test]
    public void Options_AuxCurrentWithoutD3ColdPme_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new PowerManagementCapability(new() { AuxCurrentMilliamps = 55 }));

    [Test]
    public void Options_BogusAuxCurrent_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new PowerManagementCapability(new() { AuxCurrentMilliamps = 56, PmeSupport = PmeSupport.D3Cold }));
}
