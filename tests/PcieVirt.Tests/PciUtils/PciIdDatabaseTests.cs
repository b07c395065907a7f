using PcieVirt.PciUtils;

namespace PcieVirt.Tests.PciUtils;

[TestFixture]
public class PciIdDatabaseTests
{
    const string Sample =
        "# comment\n" +
        "8086  Intel Corporation\n" +
        "\t10fb  82599ES 10-Gigabit SFI/SFP+ Network Connection\n" +
        "\t\t8086 0003  Ethernet Server Adapter X520-2\n" +
        "1af4  Red Hat, Inc.\n" +
        "C 01  Mass storage controller\n" +
        "\t08  Non-Volatile memory controller\n" +
        "\t\t02  NVM Express\n" +
        "C 12  Processing accelerators\n";

    static PciNames Names(NameMode m) => new(PciIdDatabase.Parse(new StringReader(Sample)), m);

    [Test]
    public void Parses_all_levels()
    {
        var db = PciIdDatabase.Parse(new StringReader(Sample));
        Assert.That(db.Vendor(0x8086), Is.EqualTo("Intel Corporation"));
        Assert.That(db.Device(0x8086, 0x10fb), Is.EqualTo("82599ES 10-Gigabit SFI/SFP+ Network Connection"));
        Assert.That(db.Subsystem(0x8086, 0x10fb, 0x8086, 0x0003), Is.EqualTo("Ethernet Server Adapter X520-2"));
        Assert.That(db.SubClass(0x01, 0x08), Is.EqualTo("Non-Volatile memory controller"));
        Assert.That(db.ProgIf(0x01, 0x08, 0x02), Is.EqualTo("NVM Express"));
    }

    // Fallback wording checked against lspci 3.9.0 with and without a database (-i /nonexistent).
    [TestCase(NameMode.Names, 0x8086, 0x10fb, "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection")]
    [TestCase(NameMode.Names, 0x8086, 0xfff0, "Intel Corporation Device fff0")]
    [TestCase(NameMode.Names, 0x0003, 0xfff0, "Device 0003:fff0")]
    [TestCase(NameMode.Both, 0x8086, 0xfff0, "Intel Corporation Device [8086:fff0]")]
    [TestCase(NameMode.Both, 0x0003, 0xfff0, "Device [0003:fff0]")]
    [TestCase(NameMode.Numeric, 0x8086, 0x10fb, "8086:10fb")]
    public void Vendor_device_names(NameMode mode, int v, int d, string expected) =>
        Assert.That(Names(mode).VendorDevice((ushort)v, (ushort)d), Is.EqualTo(expected));

    [TestCase(NameMode.Names, 0x0108, "Non-Volatile memory controller")]
    [TestCase(NameMode.Names, 0x1234, "Processing accelerators [1234]")]
    [TestCase(NameMode.Names, 0x4000, "Class 4000")]
    [TestCase(NameMode.Both, 0x0108, "Non-Volatile memory controller [0108]")]
    [TestCase(NameMode.Both, 0x4000, "Class [4000]")]
    public void Class_names(NameMode mode, int cls, string expected) =>
        Assert.That(Names(mode).Class((ushort)cls), Is.EqualTo(expected));

    [Test]
    public void Subsystem_equal_to_device_uses_device_name()
    {
        var n = Names(NameMode.Names);
        Assert.That(n.Subsystem(0x8086, 0x10fb, 0x8086, 0x10fb), Is.EqualTo("Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection"));
        Assert.That(n.Subsystem(0x8086, 0x10fb, 0x1af4, 0x9999), Is.EqualTo("Red Hat, Inc. Device 9999"));
    }

    [Test]
    public void Ide_prog_if_falls_back_to_mode_bits() =>
        Assert.That(new PciNames(PciIdDatabase.Empty, NameMode.Names).ProgIf(0x0101, 0x8c), Is.EqualTo("Master SecP SecO"));

    [Test]
    public void Missing_file_gives_empty_database() =>
        Assert.That(PciIdDatabase.Open("/nonexistent/pci.ids").IsEmpty, Is.True);
}
