using PcieVirt.Fabric;
using PcieVirt.Platform.Model;
using static PcieVirt.Tests.Platform.Baseline;

namespace PcieVirt.Tests.Platform;

[TestFixture]
public class ModelNumberTests
{
    [TestCase("0", 0UL)]
    [TestCase("4096", 4096UL)]
    [TestCase("0x1af4", 0x1AF4UL)]
    [TestCase("0X1AF4", 0x1AF4UL)]
    [TestCase("0x8000_0000", 0x8000_0000UL)]
    [TestCase("1_000", 1000UL)]
    [TestCase("16K", 16UL << 10)]
    [TestCase("16k", 16UL << 10)]
    [TestCase("64KiB", 64UL << 10)]
    [TestCase("1M", 1UL << 20)]
    [TestCase("2MiB", 2UL << 20)]
    [TestCase("4G", 4UL << 30)]
    [TestCase("1T", 1UL << 40)]
    [TestCase(" 8K ", 8UL << 10)]
    [TestCase("0xFFFF_FFFF_FFFF_FFFF", ulong.MaxValue)]
    [TestCase("18446744073709551615", ulong.MaxValue)]
    public void TryParse_AcceptsDecimalHexAndBinarySuffixes(string text, ulong expected)
    {
        Assert.That(ModelNumber.TryParse(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(expected));
    }

    [TestCase("", "empty")]
    [TestCase("0x", "is not a hexadecimal number")]
    [TestCase("0xZZ", "is not a hexadecimal number")]
    [TestCase("0x_1", "is not a hexadecimal number")]
    [TestCase("1__0", "is not a number")]
    [TestCase("12Q", "unknown size suffix 'Q'")]
    [TestCase("16KB", "unknown size suffix 'KB'")]
    [TestCase("-1", "is not a number")]
    [TestCase("1.5", "is not an integer")]
    [TestCase("K", "is not a number")]
    [TestCase("18446744073709551616", "does not fit in 64 bits")]
    [TestCase("0x1_0000_0000_0000_0000", "does not fit in 64 bits")]
    [TestCase("16777216T", "does not fit in 64 bits")]
    public void TryParse_RejectsWithAReason(string text, string reason)
    {
        Assert.That(ModelNumber.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(reason));
    }

    [TestCase(0UL, "0 bytes")]
    [TestCase(8UL, "8 bytes")]
    [TestCase(16384UL, "16 KiB")]
    [TestCase(3UL << 20, "3 MiB")]
    [TestCase(1UL << 40, "1 TiB")]
    [TestCase(1536UL, "0x600 bytes")]
    public void FormatSize_UsesTheLargestExactBinaryUnit(ulong bytes, string expected) =>
        Assert.That(ModelNumber.FormatSize(bytes), Is.EqualTo(expected));

    // The last address is inclusive: 0xC000_0000 + 256 MiB - 1, and a range ending at 2^64 does not wrap to 0.
    [TestCase(0xC000_0000UL, 0x1000_0000UL, "[0xc0000000..0xcfffffff]")]
    [TestCase(0xFFFF_FFFF_0000_0000UL, 0x1_0000_0000UL, "[0xffffffff00000000..0xffffffffffffffff]")]
    [TestCase(0x1000UL, 1UL, "[0x1000..0x1000]")]
    public void FormatRange_ShowsBaseAndInclusiveLastAddress(ulong baseAddress, ulong size, string expected) =>
        Assert.That(ModelNumber.FormatRange(new AddressRange(baseAddress, size)), Is.EqualTo(expected));

    [Test]
    public void ModelFields_AcceptNumbersStringsHexAndSuffixes()
    {
        var r = ParseWith(n =>
        {
            Function0(n)["bars"]![0]!["size"] = 16384;            // JSON number
            Function0(n)["bars"]![1]!["size"] = "0x1000";         // hex string
            Function0(n)["identity"]!["vendorId"] = 6900;          // decimal number for 0x1af4
            Function0(n)["identity"]!["deviceId"] = "4161";        // decimal string for 0x1041
            Caps0(n)["dsn"] = "0xFFFF_FFFF_FFFF_FFFE";
        });
        Assert.That(r.Errors, Is.Empty, Describe(r));
        var f = r.Model!.Hosts[0].AllFunctions().First();
        Assert.That(f.Bars.Select(b => b.Size), Is.EqualTo(new[] { 16384UL, 4096UL }));
        Assert.That((f.Identity.VendorId, f.Identity.DeviceId), Is.EqualTo(((ushort)0x1af4, (ushort)0x1041)));
        Assert.That(f.Capabilities.DeviceSerialNumber, Is.EqualTo(0xFFFF_FFFF_FFFF_FFFEUL));
    }
}
