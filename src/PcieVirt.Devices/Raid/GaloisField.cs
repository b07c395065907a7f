namespace PcieVirt.Devices.Raid;

/// <summary>
/// Arithmetic in GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator
/// g = 2 ({02}), the field of the RAID 6 Q syndrome (H. P. Anvin, "The mathematics of RAID-6"; the same
/// field Linux md uses). Addition is XOR; multiplication goes through log/antilog tables built here.
/// </summary>
public static class GaloisField
{
    /// <summary>The reducing polynomial, bit 8 included.</summary>
    public const int Polynomial = 0x11D;

    // Exp is doubled (510 entries) so Exp[Log[a] + Log[b]] needs no modulo.
    static readonly byte[] s_exp = new byte[510];
    static readonly byte[] s_log = new byte[256];

    static GaloisField()
    {
        int x = 1;
        for (int i = 0; i < 255; i++)
        {
            s_exp[i] = (byte)x;
            s_exp[i + 255] = (byte)x;
            s_log[x] = (byte)i;
            x <<= 1;                    // multiply by the generator {02}
            if ((x & 0x100) != 0)
                x ^= Polynomial;
        }
    }

    /// <summary>g^<paramref name="n"/> for any integer n (the powers repeat with period 255).</summary>
    public static byte Power(int n) => s_exp[((n % 255) + 255) % 255];

    /// <summary>Discrete logarithm base g of a non-zero element.</summary>
    public static int Log(byte a) => a == 0 ? throw new ArgumentOutOfRangeException(nameof(a), "log of 0") : s_log[a];

    /// <summary>Product in the field.</summary>
    public static byte Multiply(byte a, byte b) => a == 0 || b == 0 ? (byte)0 : s_exp[s_log[a] + s_log[b]];

    /// <summary>Multiplicative inverse of a non-zero element.</summary>
    public static byte Inverse(byte a) => a == 0
        ? throw new DivideByZeroException("0 has no inverse in GF(2^8)")
        : s_exp[255 - s_log[a]];

    /// <summary>a / b for non-zero b.</summary>
    public static byte Divide(byte a, byte b) => Multiply(a, Inverse(b));

    /// <summary>Multiplies every byte of <paramref name="data"/> by the constant <paramref name="c"/> and XORs
    /// the product into <paramref name="target"/>.</summary>
    public static void MultiplyXor(byte c, ReadOnlySpan<byte> data, Span<byte> target)
    {
        if (c == 0)
            return;
        if (c == 1)
        {
            Parity.Xor(data, target);
            return;
        }
        int logC = s_log[c];
        ReadOnlySpan<byte> exp = s_exp;
        ReadOnlySpan<byte> log = s_log;
        for (int i = 0; i < data.Length; i++)
        {
            byte d = data[i];
            if (d != 0)
                target[i] ^= exp[log[d] + logC];
        }
    }

    /// <summary>Multiplies every byte of <paramref name="data"/> in place by the constant <paramref name="c"/>.</summary>
    public static void MultiplyInPlace(byte c, Span<byte> data)
    {
        if (c == 1)
            return;
        if (c == 0)
        {
            data.Clear();
            return;
        }
        int logC = s_log[c];
        ReadOnlySpan<byte> exp = s_exp;
        ReadOnlySpan<byte> log = s_log;
        for (int i = 0; i < data.Length; i++)
        {
            byte d = data[i];
            if (d != 0)
                data[i] = exp[log[d] + logC];
        }
    }
}
