package dev.ppsd.job;
public final class GenerateJob { public static void main(String[] a) {} }
