using PcieVirt.PciUtils;
using PcieVirt.Tests.Support;
using static PcieVirt.Tests.PciUtils.TestConfigs;

namespace PcieVirt.Tests.PciUtils;

[TestFixture]
public class SetpciTests
{
    static (int Rc, string Out, string Err) Run(RawConfigAccessor host, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int rc = Setpci.Run(args, [host], o, e);
        return (rc, o.ToString(), e.ToString());
    }

    static RawConfigAccessor Host() => new RawConfigAccessor().Add(At(0, 1, 0), RootPort()).Add(At(1, 0, 0), Endpoint());

    [Test]
    public void Reads_named_and_numeric_registers_zero_padded_to_width()
    {
        var h = Host();
        Assert.That(Run(h, "-s", "01:00.0", "COMMAND").Out, Is.EqualTo("0146\n"));
        Assert.That(Run(h, "-s", "01:00.0", "4.l").Out, Is.EqualTo("00100146\n"));
        Assert.That(Run(h, "-s", "01:00.0", "VENDOR_ID+1.b").Out, Is.EqualTo("80\n"));
        Assert.That(Run(h, "-s", "00:01.0", "SECONDARY_BUS").Out, Is.EqualTo("01\n"));
    }

    [Test]
    public void Capabilities_are_found_by_walking_the_lists()
    {
        var h = Host();
        Assert.That(Run(h, "-s", "01:00.0", "CAP_EXP+2.w").Out, Is.EqualTo("0002\n"), "PCIe capabilities register at 0x72");
        Assert.That(Run(h, "-s", "01:00.0", "ECAP_SRIOV+e.w").Out, Is.EqualTo("0040\n"), "TotalVFs = 64");
        Assert.That(Run(h, "-s", "01:00.0", "CAP10+2.w").Out, Is.EqualTo("0002\n"));
        Assert.That(Run(h, "-s", "01:00.0", "ECAP_DSN+4.l").Out, Is.EqualTo("12345678\n"));
    }

    [Test]
    public void Writes_and_masked_read_modify_write()
    {
        var h = Host();
        var r = Run(h, "-v", "-s", "01:00.0", "ECAP_SRIOV+10.w=4");
        // setpci 3.9.0 -v names the capability it found before the register: "(ecap ID @POS) ".
        Assert.That(r.Out, Is.EqualTo("0000:01:00.0 (ecap 0010 @168) @178 0004\n"));
        Assert.That(h.Bytes(At(1, 0, 0))[0x178], Is.EqualTo(4));
        r = Run(h, "-v", "-s", "01:00.0", "COMMAND=1:3");
        Assert.That(r.Out, Is.EqualTo("0000:01:00.0 @04 0146->(0001:0003)->0145\n"));
        Assert.That(U32(h.Bytes(At(1, 0, 0)), 4) & 0xFFFF, Is.EqualTo(0x0145));
        Run(h, "-s", "01:00.0", "3c.b=5,6");
        Assert.That(h.Bytes(At(1, 0, 0))[0x3c..0x3e], Is.EqualTo(new byte[] { 5, 6 }));
    }

    [Test]
    public void Id_selector_selects_devices()
    {
        Assert.That(Run(Host(), "-d", "8086:3c02", "HEADER_TYPE").Out, Is.EqualTo("81\n"));
    }

    // Messages as setpci 3.9.0 prints them (checked by running it).
    [TestCase(new[] { "-s", "01:00.0", "FOO" }, "setpci: Unknown register \"FOO\".\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "3.w" }, "setpci: Unaligned register address 03.\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "4.x" }, "setpci: Invalid width \"x\".\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "CAP_PM" }, "setpci: Missing width.\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "4.w=12345" }, "setpci: Value \"12345\" is out of range.\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "4.w=1:2:3" }, "setpci: Invalid mask \"2:3\".\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "1000.b" }, "setpci: Register number 1000 out of range.\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "COMMAND" }, "setpci: Filter specification expected.\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "zz", "COMMAND" }, "setpci: Unable to parse filter -s Invalid slot number.\nTry `setpci --help' for more information.\n")]
    [TestCase(new[] { "-s", "01:00.0", "BRIDGE_CONTROL" }, "setpci: 0000:01:00.0: Does not have register BRIDGE_CONTROL.\n")]
    [TestCase(new[] { "-s", "01:00.0", "ECAP108.l" }, "setpci: 0000:01:00.0: Instance #0 of Extended capability 0108 not found - there are no capabilities with that id.\n")]
    public void Errors_are_reported_with_exit_code_1(string[] args, string message)
    {
        var r = Run(Host(), args);
        Assert.That(r.Rc, Is.EqualTo(1));
        Assert.That(r.Err, Is.EqualTo(message));
    }

    [Test]
    public void No_match_is_a_warning_not_an_error()
    {
        var r = Run(Host(), "-s", "1f:", "COMMAND");
        Assert.That(r.Rc, Is.EqualTo(0));
        Assert.That(r.Err, Is.EqualTo("setpci: Warning: No devices selected for operation group 1.\n"));
    }

    [Test]
    [Category("Interop")]
    public void Register_table_matches_real_setpci_dumpregs()
    {
        RealPciutils.IgnoreUnlessInstalled();
        var real = RealPciutils.SetpciDumpRegs();
        var ours = new StringWriter();
        SetpciRegisters.Dump(ours);
        Assert.That(ours.ToString(), Is.EqualTo(real));
    }
}
