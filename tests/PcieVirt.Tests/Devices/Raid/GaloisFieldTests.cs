using PcieVirt.Devices.Raid;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>GF(2^8) with polynomial 0x11D and generator {02}, checked against hand-computed values.</summary>
[TestFixture]
public class GaloisFieldTests
{
    [Test]
    public void PowersOfTheGenerator_ReduceByThePolynomial()
    {
        // g^0..g^7 are the single bits; g^8 = x^8 mod (x^8+x^4+x^3+x^2+1) = x^4+x^3+x^2+1 = 0x1D;
        // g^9 = 2·0x1D = 0x3A; g^255 = g^0 = 1.
        Assert.Multiple(() =>
        {
            Assert.That(GaloisField.Power(0), Is.EqualTo(0x01));
            Assert.That(GaloisField.Power(7), Is.EqualTo(0x80));
            Assert.That(GaloisField.Power(8), Is.EqualTo(0x1D));
            Assert.That(GaloisField.Power(9), Is.EqualTo(0x3A));
            Assert.That(GaloisField.Power(255), Is.EqualTo(0x01));
            Assert.That(GaloisField.Power(-1), Is.EqualTo(GaloisField.Power(254)));
        });
    }

    [Test]
    public void Generator_IsPrimitive_AllNonZeroElementsAppearOnce()
    {
        var seen = new HashSet<byte>();
        for (int i = 0; i < 255; i++)
            Assert.That(seen.Add(GaloisField.Power(i)), Is.True, $"g^{i} repeats");
        Assert.That(seen, Does.Not.Contain((byte)0));
    }

    [Test]
    public void Multiply_HandComputedProducts()
    {
        Assert.Multiple(() =>
        {
            Assert.That(GaloisField.Multiply(0x80, 0x02), Is.EqualTo(0x1D), "x^7·x = x^8 → 0x1D");
            Assert.That(GaloisField.Multiply(0x02, 0x02), Is.EqualTo(0x04));
            Assert.That(GaloisField.Multiply(0x03, 0x03), Is.EqualTo(0x05), "(x+1)^2 = x^2+1 (characteristic 2)");
            Assert.That(GaloisField.Multiply(0x00, 0xAB), Is.EqualTo(0x00));
            // 0x8E·2 = 0x11C, minus the polynomial 0x11D leaves 1: 0x8E is the inverse of 2.
            Assert.That(GaloisField.Inverse(0x02), Is.EqualTo(0x8E));
        });
    }

    [Test]
    public void Multiply_MatchesShiftAndAddReference_ForAllPairs()
    {
        for (int a = 0; a < 256; a++)
        {
            for (int b = 0; b < 256; b++)
                Assert.That(GaloisField.Multiply((byte)a, (byte)b), Is.EqualTo(SlowMultiply(a, b)), $"{a:x2}·{b:x2}");
        }
    }

    [Test]
    public void Inverse_TimesElement_IsOne()
    {
        for (int a = 1; a < 256; a++)
            Assert.That(GaloisField.Multiply((byte)a, GaloisField.Inverse((byte)a)), Is.EqualTo(1));
    }

    [Test]
    public void MultiplyXor_AndMultiplyInPlace_ApplyTheConstantToEveryByte()
    {
        byte[] data = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var target = new byte[256];
        Array.Fill(target, (byte)0x55);
        GaloisField.MultiplyXor(0x1D, data, target);
        var inPlace = (byte[])data.Clone();
        GaloisField.MultiplyInPlace(0x1D, inPlace);
        for (int i = 0; i < 256; i++)
        {
            Assert.That(target[i], Is.EqualTo((byte)(0x55 ^ SlowMultiply(i, 0x1D))));
            Assert.That(inPlace[i], Is.EqualTo(SlowMultiply(i, 0x1D)));
        }
    }

    /// <summary>Carry-less multiply, reducing by 0x11D after each shift (the textbook definition).</summary>
    static byte SlowMultiply(int a, int b)
    {
        int product = 0;
        while (b != 0)
        {
            if ((b & 1) != 0)
                product ^= a;
            a <<= 1;
            if ((a & 0x100) != 0)
                a ^= 0x11D;
            b >>= 1;
        }
        return (byte)product;
    }
}
